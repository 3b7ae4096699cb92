/** A lease as the store granted it: who holds it, until when, and its fencing epoch. */
export interface Lease {
  readonly name: string;
  /** Unique to the process that holds it. */
  readonly holder: string;
  /**
   * Grows each time the lease changes hands, never on a renewal. A holder's writes carry it
   * (`CoordinatorStore.fence`), so a holder that paused past its expiry cannot write after a
   * successor took over.
   */
  readonly epoch: number;
  /** When it lapses unless renewed, in milliseconds since the epoch, by the store's clock. */
  readonly expiresAt: number;
}

/** Named leases, one holder at a time: which coordinator node conducts the federation's runs. */
export interface LeaseStore {
  /**
   * Takes the lease when nobody holds it or it lapsed (a new epoch), or renews it when `holder`
   * holds it (the same epoch, a later expiry); undefined while another holds it. Expiry is
   * judged by the store's clock, so nodes whose clocks disagree still agree on who holds it.
   */
  acquire(request: { name: string; holder: string; ttlMs: number }): Promise<Lease | undefined>;
  /** Lets the lease lapse now when `holder` holds it at `epoch`, so a successor need not wait. */
  release(lease: { name: string; holder: string; epoch: number }): Promise<void>;
  /** The lease as last granted, lapsed or not; undefined before anyone took it. */
  current(name: string): Promise<Lease | undefined>;
}
