/** A site of the registry: its enrolled identity key and whether it may still connect. */
export interface SiteRecord {
  readonly name: string;
  readonly publicKey: string;
  readonly state: 'enrolled' | 'revoked';
  readonly lastConnectedAt?: string;
}

/** The site registry as the coordinator last synced it from its config. */
export interface SiteStore {
  /**
   * Inserts new sites and updates those whose key or state changed, in one transaction. A site
   * absent from `sites` is kept as it was (revocation is explicit, never by omission).
   */
  sync(sites: readonly Omit<SiteRecord, 'lastConnectedAt'>[]): Promise<void>;
  /** Records that the site connected now; an unknown name changes nothing. */
  markConnected(name: string): Promise<void>;
  /** Every site, by name. */
  list(): Promise<SiteRecord[]>;
}
