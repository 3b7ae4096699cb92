import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import {
  auditLeaf,
  fail,
  hashLeaf,
  keyFingerprint,
  MerkleTree,
  ok,
  signTreeHead,
  SOCKET_EVENTS,
  toHex,
  unwrap,
  verifyAuditLog,
  verifyTreeHead,
  type AuditEntry,
  type AuditPage,
  type Result,
  type SignedTreeHead,
  type TreeHeadsView,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { CoordinatorEvents, type AuditEvent } from '../events/coordinator-events.js';
import { COORDINATOR_STORE, type AuditFilter, type CoordinatorStore } from '../store/store.js';
import { RefusalSampler } from './refusal-sampler.js';

/** What waits for the store, in order: an entry to append, or a tree head to sign there. */
type Pending =
  | {
      readonly kind: 'entry';
      readonly event: Record<string, unknown>;
      readonly resolve: (seq: number) => void;
      readonly reject: (error: unknown) => void;
    }
  | {
      readonly kind: 'head';
      readonly resolve: (head: SignedTreeHead) => void;
      readonly reject: (error: unknown) => void;
    };

/**
 * The tamper-evident protocol log (PROTOCOL.md section 10): every event the coordinator and its
 * operators cause becomes a leaf (canonical JSON of {seq, event}) of an RFC 6962 Merkle tree,
 * persisted before anything else happens; a signed tree head closes every round and the run,
 * and goes to every connected site. Events carry names, codes, hashes and sizes only.
 *
 * Appends are group-committed: what is asked for while the previous batch commits goes to the
 * store as the next batch (one transaction), and each appender's promise settles only once its
 * entry is committed. An entry gets its seq and chain link only when its batch is taken, so a
 * batch the store refuses leaves no gap: the tree goes back to what the store holds and the
 * next batch is numbered from there. Every read waits for what is pending, so no reader sees
 * the tree ahead of the store.
 */
@Injectable()
export class AuditService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private tree = new MerkleTree();
  private pending: Pending[] = [];
  /** The batch being committed, if any: batches go to the store one at a time, in order. */
  private committing: Promise<void> | undefined;
  private readonly refusals: RefusalSampler;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly events: CoordinatorEvents,
  ) {
    this.refusals = new RefusalSampler(setup.config.limits.refusalSampleMs, (event) =>
      this.append(event),
    );
    events.on('audit', (event) => this.append(event));
    events.on('unauthenticatedRefusal', (refusal) => this.refusals.count(refusal));
    events.on('site', (p) =>
      this.append({ event: p.present ? 'session.opened' : 'session.closed', site: p.site }),
    );
    events.on('protocol', (e) => {
      // Refusals before authentication are sampled (unauthenticatedRefusal), not logged each.
      // One entry per refusal: the `refuse` either side sent, not also the frame it refused.
      if (e.outcome !== 'refused' || !e.authenticated || e.kind !== SOCKET_EVENTS.refuse) return;
      this.append({ event: 'session.refused', peer: e.peer, step: e.kind, code: e.code });
    });
    // A head closes every round and the run (the sites receive both), and one more covers the
    // final student's exports, logged after the sites are gone.
    events.on('round', () => this.signInBackground());
    events.on('ending', ({ run, rounds, hold }) => {
      this.append({ event: 'run.completed', run, rounds });
      // Logged here when signing fails: the run's final frame goes out all the same.
      hold(this.signHead().catch(() => undefined));
    });
    events.on('complete', () => this.signInBackground());
    events.on('allowList', (change) =>
      this.append({
        event: 'allow_list.applied',
        enrolled: change.enrolled,
        revoked: change.revoked,
      }),
    );
  }

  /** The tree as stored, before any site connects. */
  async onModuleInit(): Promise<void> {
    const entries = await this.rebuildTree();
    // Sessions the previous process had open when it stopped (a crash, a kill) ended with it.
    for (const site of openSessions(entries)) {
      this.append({ event: 'session.closed', site, reason: 'coordinator.restart' });
    }
  }

  /** Appends one event; settles with its seq once it is committed to the store. */
  record(event: AuditEvent): Promise<number> {
    // prevRoot and seq come when the batch is taken; the time is when it happened.
    const logged = { ...dropUndefined(event), at: new Date().toISOString() };
    return new Promise((resolve, reject) => {
      this.pending.push({ kind: 'entry', event: logged, resolve, reject });
      this.schedule();
    });
  }

  /** Settles once everything asked for so far is committed (or refused). */
  async settled(): Promise<void> {
    while (this.committing || this.pending.length > 0) {
      this.schedule();
      await this.committing;
    }
  }

  private schedule(): void {
    if (this.committing || this.pending.length === 0) return;
    this.committing = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.commitPending())
      .finally(() => {
        this.committing = undefined;
        this.schedule();
      });
  }

  /** Commits what is pending, up to and including the first head asked for, in order. */
  private async commitPending(): Promise<void> {
    const headAt = this.pending.findIndex((p) => p.kind === 'head');
    const taken = this.pending.splice(0, headAt < 0 ? this.pending.length : headAt + 1);
    const entries = taken.filter((p) => p.kind === 'entry');
    const batch = entries.map(({ event }) => {
      const seq = this.tree.size;
      // prevRoot lets a verifier name a changed entry, not just the span a head covers.
      const entry = { seq, event: { ...event, prevRoot: toHex(unwrap(this.tree.root())) } };
      this.tree.append(unwrap(auditLeaf(entry)));
      return entry;
    });
    if (batch.length > 0) {
      try {
        await this.store.audit.appendAll(batch);
      } catch (error) {
        // Not one of them is stored: the tree goes back to what the store holds.
        this.logger.error(`audit entries ${batch[0]!.seq}.. not stored: ${String(error)}`);
        await this.rebuildTree();
        for (const p of taken) p.reject(error);
        return;
      }
      entries.forEach((p, i) => p.resolve(batch[i]!.seq));
    }
    const head = taken.find((p) => p.kind === 'head');
    if (head) await this.sign(head);
  }

  private async sign(request: Extract<Pending, { kind: 'head' }>): Promise<void> {
    const head = signTreeHead(this.setup.sodium, this.setup.identity.privateKey, {
      size: this.tree.size,
      root: unwrap(this.tree.root()),
      time: new Date(),
    });
    try {
      await this.store.audit.addTreeHead(head);
    } catch (error) {
      this.logger.error(`tree head ${head.size} not stored: ${String(error)}`);
      request.reject(error);
      return;
    }
    this.events.emit('treeHead', head);
    this.logger.log(`tree head ${head.size} ${head.root.slice(0, 16)}`);
    request.resolve(head);
  }

  /** For the event listeners, which cannot wait: a failed commit is logged by commitPending. */
  private append(event: AuditEvent): void {
    this.record(event).catch(() => undefined);
  }

  private signInBackground(): void {
    this.signHead().catch(() => undefined);
  }

  /** The tree as the store holds it; returns the entries it was built from. */
  private async rebuildTree(): Promise<readonly AuditEntry[]> {
    const entries = await this.store.audit.entries();
    this.tree = new MerkleTree();
    for (const entry of entries) this.tree.append(unwrap(auditLeaf(entry)));
    return entries;
  }

  /** The sampled refusals and anything pending reach the store before it closes. */
  async onApplicationShutdown(): Promise<void> {
    this.refusals.flush();
    await this.settled();
  }

  /**
   * Signs the log once everything asked for before is committed, keeps the head and sends it
   * to every connected site.
   */
  signHead(): Promise<SignedTreeHead> {
    return new Promise((resolve, reject) => {
      this.pending.push({ kind: 'head', resolve, reject });
      this.schedule();
    });
  }

  /** Everything an auditor needs to verify offline: the entries and every head issued. */
  async export(): Promise<{ entries: AuditEntry[]; treeHeads: SignedTreeHead[] }> {
    await this.settled();
    const [entries, treeHeads] = await Promise.all([
      this.store.audit.entries(),
      this.store.audit.treeHeads(),
    ]);
    return { entries, treeHeads };
  }

  /** A page of the log for the dashboard, newest first. */
  async page(filter: AuditFilter): Promise<AuditPage> {
    await this.settled();
    const [{ entries, matching }, size] = await Promise.all([
      this.store.audit.page(filter),
      this.store.audit.size(),
    ]);
    return { entries: entries as AuditPage['entries'], matching, size };
  }

  /**
   * Every signed head with its signature checked, and the stored log checked against all of
   * them as `fedistill audit verify` does: an entry edited in the store shows here. This is the
   * coordinator checking its own store; an auditor's proof is the offline verify of an export.
   * Every request reads and checks the whole log (each request is itself a new entry).
   */
  async treeHeads(): Promise<TreeHeadsView> {
    const { sodium, identity } = this.setup;
    const exported = await this.export();
    const verified = verifyAuditLog(sodium, identity.publicKey, exported);
    const coordinatorKey = Buffer.from(identity.publicKey).toString('base64');
    return {
      coordinatorKey,
      fingerprint: keyFingerprint(sodium, coordinatorKey),
      heads: exported.treeHeads.map((head) => ({
        size: head.size,
        root: head.root,
        time: head.time,
        signatureValid: verifyTreeHead(sodium, identity.publicKey, head).ok,
      })),
      log: verified.ok ? { verified: true } : { verified: false, message: verified.error.message },
    };
  }

  /** An entry with its inclusion proof under the latest head (a new head when none covers it). */
  async proveLatest(
    seq: number,
  ): Promise<
    Result<{ entry: AuditEntry; leafHash: string; treeHead: SignedTreeHead; proof: string[] }>
  > {
    const { entries, treeHeads: heads } = await this.export();
    const entry = entries[seq];
    if (!entry) return fail('run.unknown', `no audit entry ${seq}`);
    const last = heads[heads.length - 1];
    const treeHead = last && last.size > seq ? last : await this.signHead();
    const proof = this.tree.inclusionProof(seq, treeHead.size);
    if (!proof.ok) return proof;
    const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
    return ok({
      entry,
      leafHash: hex(hashLeaf(unwrap(auditLeaf(entry)))),
      treeHead,
      proof: proof.value.map(hex),
    });
  }
}

/** Sites whose last session entry is an opening: their session outlived its process. */
function openSessions(entries: readonly AuditEntry[]): string[] {
  const open = new Set<string>();
  for (const { event } of entries) {
    if (typeof event.site !== 'string') continue;
    if (event.event === 'session.opened') open.add(event.site);
    else if (event.event === 'session.closed') open.delete(event.site);
  }
  return [...open];
}

function dropUndefined(event: AuditEvent): Record<string, string | number | boolean | null> {
  return Object.fromEntries(Object.entries(event).filter(([, v]) => v !== undefined)) as Record<
    string,
    string | number | boolean | null
  >;
}
