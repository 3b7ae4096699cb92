import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import {
  allowListSchema,
  fail,
  keyFingerprint,
  ok,
  readJsonFile,
  type AllowList,
  type Result,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { COORDINATOR_STORE, type CoordinatorStore, type SiteRecord } from '../store/store.js';
import { enrolSite, revokeSite, type EnrolledSite } from './allow-list-file.js';

/** A pause after a change to the allow-list file, so a burst of writes is read once. */
const RELOAD_DEBOUNCE_MS = 50;

/**
 * The allow-list of enrolled sites: only these keys may complete a handshake. The file is
 * watched; an operator enrols, revokes or rotates a key by rewriting it (`fedistill sites`).
 * A file that does not parse is reported and the list in force is kept.
 */
@Injectable()
export class SitesService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Sites');
  private active = new Map<string, string>();
  private revoked = new Map<string, string>();
  /** Every site the store's registry holds, by name: what the last sync left there. */
  private registry = new Map<string, SiteRecord>();
  private readonly listeners: (() => void)[] = [];
  private readonly watcher: FSWatcher;
  private pending: NodeJS.Timeout | undefined;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly events: CoordinatorEvents,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
  ) {
    const file = setup.config.allowListFile;
    // Watch the folder, not the file: an atomic rewrite replaces the file's inode.
    this.watcher = watch(path.dirname(file), (_event, changed) => {
      if (changed !== path.basename(file)) return;
      clearTimeout(this.pending);
      this.pending = setTimeout(() => void this.reload(), RELOAD_DEBOUNCE_MS);
    });
  }

  private async apply(list: AllowList): Promise<void> {
    this.active = new Map(list.sites.map((s) => [s.publicKey, s.name]));
    this.revoked = new Map(list.revoked.map((s) => [s.publicKey, s.name]));
    // The registry keeps every site ever enrolled; a rotated key leaves its site enrolled.
    const enrolled = new Set(list.sites.map((s) => s.name));
    const next = [
      ...list.sites.map((s) => ({
        name: s.name,
        publicKey: s.publicKey,
        state: 'enrolled' as const,
      })),
      ...list.revoked
        .filter((s) => !enrolled.has(s.name))
        .map((s) => ({ name: s.name, publicKey: s.publicKey, state: 'revoked' as const })),
    ];
    // What changed since the registry last saw the list goes to the audit log, by fingerprint.
    const before = new Map((await this.store.sites.list()).map((s) => [s.name, s]));
    for (const site of next) {
      const was = before.get(site.name);
      if (was?.state === site.state && was.publicKey === site.publicKey) continue;
      this.events.emit('audit', {
        event: site.state === 'enrolled' ? 'site.enrolled' : 'site.revoked',
        site: site.name,
        key: keyFingerprint(this.setup.sodium, site.publicKey),
      });
    }
    await this.store.sites.sync(next);
    this.registry = new Map([...before, ...next.map((s) => [s.name, s] as const)]);
  }

  /** Re-reads the allow-list file; sessions of keys no longer enrolled are then closed. */
  async reload(): Promise<Result<true>> {
    const list = await readJsonFile(this.setup.config.allowListFile, allowListSchema);
    if (!list.ok) {
      this.logger.error(`allow-list not reloaded, the one in force stays: ${list.error.message}`);
      this.events.emit('allowListRejected', list.error.message);
      return list;
    }
    await this.apply(list.value);
    this.logger.log(
      `allow-list reloaded: ${this.active.size} enrolled, ${this.revoked.size} revoked keys`,
    );
    for (const listener of this.listeners) listener();
    this.events.emit('allowList', { enrolled: this.active.size, revoked: this.revoked.size });
    return ok(true);
  }

  /** Enrols a site by editing the allow-list file, and applies it at once. */
  async enrol(site: EnrolledSite): Promise<Result<true>> {
    return this.editFile(() => enrolSite(this.setup.config.allowListFile, site));
  }

  /** Revokes a site: its key is refused from now on and its live session is closed. */
  async revoke(name: string): Promise<Result<true>> {
    return this.editFile(() => revokeSite(this.setup.config.allowListFile, name));
  }

  private async editFile(edit: () => Promise<unknown>): Promise<Result<true>> {
    try {
      await edit();
    } catch (error) {
      return fail('config.invalid', (error as Error).message);
    }
    return this.reload();
  }

  /** Admits an enrolled key by name; refuses a revoked or unknown one with its code. */
  admit(publicKey: Uint8Array): Result<string> {
    const key = Buffer.from(publicKey).toString('base64');
    const name = this.active.get(key);
    if (name !== undefined) return ok(name);
    const revoked = this.revoked.get(key);
    if (revoked !== undefined) return fail('site.revoked', `this key of ${revoked} was revoked`);
    return fail('handshake.unknown_site', 'the site key is not on the allow-list');
  }

  get enrolledCount(): number {
    return this.active.size;
  }

  /** Every registered site's key by name, revoked ones included. */
  publicKeys(): ReadonlyMap<string, string> {
    return new Map([...this.registry.values()].map((s) => [s.name, s.publicKey]));
  }

  isEnrolled(publicKey: Uint8Array): boolean {
    return this.active.has(Buffer.from(publicKey).toString('base64'));
  }

  /** Called after every successful reload. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** After every provider exists, so that the audit log hears of the first enrolments too. */
  async onModuleInit(): Promise<void> {
    await this.apply(this.setup.allowList);
  }

  onModuleDestroy(): void {
    clearTimeout(this.pending);
    this.watcher.close();
  }
}
