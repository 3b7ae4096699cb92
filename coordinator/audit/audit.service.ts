import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
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
  type AuditLogExport,
  type AuditPage,
  type Result,
  type SignedTreeHead,
  type TreeHeadsView,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { CoordinatorEvents, type AuditEvent } from '../events/coordinator-events.js';
import { COORDINATOR_STORE, type AuditFilter, type CoordinatorStore } from '../store/store.js';
import { RefusalSampler } from './refusal-sampler.js';

/** Entries appended but not yet committed, and who waits for each. */
interface PendingBatch {
  readonly entries: AuditEntry[];
  readonly settle: { resolve: (seq: number) => void; reject: (error: unknown) => void }[];
}

/**
 * The tamper-evident protocol log (PROTOCOL.md section 10): every event the coordinator and its
 * operators cause becomes a leaf (canonical JSON of {seq, event}) of an RFC 6962 Merkle tree,
 * persisted before anything else happens; a signed tree head closes every round and the run,
 * and goes to every connected site. Events carry names, codes, hashes and sizes only.
 *
 * Appends are group-committed: those made in one tick go to the store in one transaction (one
 * fsync), and each appender's promise settles only once its entry is committed. Every read
 * commits what is pending first, so no reader sees the tree ahead of the store.
 */
@Injectable()
export class AuditService implements OnApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private tree = new MerkleTree();
  private pending: PendingBatch | undefined;
  private readonly refusals: RefusalSampler;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly events: CoordinatorEvents,
  ) {
    const entries = this.rebuildTree();
    // Sessions the previous process had open when it stopped (a crash, a kill) ended with it.
    for (const site of openSessions(entries)) {
      this.append({ event: 'session.closed', site, reason: 'coordinator.restart' });
    }
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
    events.on('round', () => this.signHead());
    events.on('ending', ({ run, rounds }) => {
      this.append({ event: 'run.completed', run, rounds });
      this.signHead();
    });
    events.on('complete', () => this.signHead());
    events.on('allowList', (change) =>
      this.append({
        event: 'allow_list.applied',
        enrolled: change.enrolled,
        revoked: change.revoked,
      }),
    );
  }

  /** Appends one event; settles with its seq once it is committed to the store. */
  record(event: AuditEvent): Promise<number> {
    const seq = this.tree.size;
    // prevRoot lets a verifier name a changed entry, not just the span a head covers.
    const entry = {
      seq,
      event: {
        ...dropUndefined(event),
        at: new Date().toISOString(),
        prevRoot: toHex(unwrap(this.tree.root())),
      },
    };
    this.tree.append(unwrap(auditLeaf(entry)));
    if (!this.pending) {
      this.pending = { entries: [], settle: [] };
      setImmediate(() => this.commit());
    }
    this.pending.entries.push(entry);
    return new Promise((resolve, reject) => this.pending!.settle.push({ resolve, reject }));
  }

  /** Commits what is pending in one transaction, then answers its appenders. */
  commit(): void {
    const batch = this.pending;
    if (!batch) return;
    this.pending = undefined;
    try {
      this.store.audit.appendAll(batch.entries);
    } catch (error) {
      // Not one of them is stored: the tree goes back to what the store holds.
      this.logger.error(`audit entries ${batch.entries[0]!.seq}.. not stored: ${String(error)}`);
      this.rebuildTree();
      for (const { reject } of batch.settle) reject(error);
      return;
    }
    batch.entries.forEach((entry, i) => batch.settle[i]!.resolve(entry.seq));
  }

  /** For the event listeners, which cannot wait: a failed commit is logged by commit(). */
  private append(event: AuditEvent): void {
    this.record(event).catch(() => undefined);
  }

  /** The tree as the store holds it; returns the entries it was built from. */
  private rebuildTree(): readonly AuditEntry[] {
    const entries = this.store.audit.entries();
    this.tree = new MerkleTree();
    for (const entry of entries) this.tree.append(unwrap(auditLeaf(entry)));
    return entries;
  }

  /** The sampled refusals and anything pending reach the store before it closes. */
  onApplicationShutdown(): void {
    this.refusals.flush();
    this.commit();
  }

  /** Signs the log as it stands, keeps the head and sends it to every connected site. */
  signHead(): SignedTreeHead {
    this.commit();
    const head = signTreeHead(this.setup.sodium, this.setup.identity.privateKey, {
      size: this.tree.size,
      root: unwrap(this.tree.root()),
      time: new Date(),
    });
    this.store.audit.addTreeHead(head);
    this.events.emit('treeHead', head);
    this.logger.log(`tree head ${head.size} ${head.root.slice(0, 16)}`);
    return head;
  }

  /** Everything an auditor needs to verify offline: the entries and every head issued. */
  export(): AuditLogExport {
    this.commit();
    return { entries: this.store.audit.entries(), treeHeads: this.store.audit.treeHeads() };
  }

  /** A page of the log for the dashboard, newest first. */
  page(filter: AuditFilter): AuditPage {
    this.commit();
    const { entries, matching } = this.store.audit.page(filter);
    return {
      entries: entries as AuditPage['entries'],
      matching,
      size: this.store.audit.size(),
    };
  }

  /**
   * Every signed head with its signature checked, and the stored log checked against all of
   * them as `fedistill audit verify` does: an entry edited in the store shows here. This is the
   * coordinator checking its own store; an auditor's proof is the offline verify of an export.
   * Every request reads and checks the whole log (each request is itself a new entry).
   */
  treeHeads(): TreeHeadsView {
    const { sodium, identity } = this.setup;
    const verified = verifyAuditLog(sodium, identity.publicKey, this.export());
    const coordinatorKey = Buffer.from(identity.publicKey).toString('base64');
    return {
      coordinatorKey,
      fingerprint: keyFingerprint(sodium, coordinatorKey),
      heads: this.store.audit.treeHeads().map((head) => ({
        size: head.size,
        root: head.root,
        time: head.time,
        signatureValid: verifyTreeHead(sodium, identity.publicKey, head).ok,
      })),
      log: verified.ok ? { verified: true } : { verified: false, message: verified.error.message },
    };
  }

  /** An entry with its inclusion proof under the latest head (a new head when none covers it). */
  proveLatest(seq: number): Result<{
    entry: AuditEntry;
    leafHash: string;
    treeHead: SignedTreeHead;
    proof: string[];
  }> {
    this.commit();
    const entry = this.store.audit.entries()[seq];
    if (!entry) return fail('run.unknown', `no audit entry ${seq}`);
    const heads = this.store.audit.treeHeads();
    const last = heads[heads.length - 1];
    const treeHead = last && last.size > seq ? last : this.signHead();
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
