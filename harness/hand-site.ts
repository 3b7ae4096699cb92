import { readFile } from 'node:fs/promises';
import {
  BlobOutbox,
  decodeKey,
  decodeTensorBlob,
  encodeTensorBlob,
  identityFileSchema,
  identityKeyPair,
  toHex,
  unwrap,
  weightLayout,
  type BlobManifest,
  type CoordinatorMessage,
  type NamedTensor,
  type RoundStart,
  type RoundUpdate,
  type RunWelcome,
  type Sodium,
  type StudentSpec,
} from '../protocol/index.js';
import type { DemoWorkspace } from '../cli/demo/workspace.js';
import type { CoordinatorEvents } from '../coordinator/events/coordinator-events.js';
import { RawPeer } from './raw-peer.js';

/**
 * What a hand site needs of its run: the workspace's keys and the coordinator's URL, and the
 * coordinator's events for ready() to wait on. A RunFixture is one; a coordinator in another
 * process (bench/scale) has no events here, and its sites say ready with sendReady().
 */
export interface HandSiteHost {
  readonly workspace: Pick<DemoWorkspace, 'keys'>;
  readonly coordinator: { readonly url: string; readonly events?: CoordinatorEvents };
}

/** The value of every weight of a hand site's delta: finite, and far from zero. */
export const HAND_DELTA_VALUE = 0.01;

/** The answer an honest hand-driven site gives: HAND_DELTA_VALUE on every weight, as a blob. */
export function handDelta(student: StudentSpec): Uint8Array {
  const delta = weightLayout(student).map((slot) => ({
    name: slot.name,
    shape: slot.shape,
    values: new Float32Array(slot.shape.reduce((a, b) => a * b, 1)).fill(HAND_DELTA_VALUE),
  }));
  return unwrap(encodeTensorBlob(delta, 'float32'));
}

/** The round.update announcing `delta` in answer to `start`; `fields` replace honest values. */
export function updateFor(
  start: RoundStart,
  delta: BlobManifest,
  fields: Partial<Pick<RoundUpdate, 'runId' | 'round' | 'baseVersion' | 'numExamples'>> = {},
): RoundUpdate {
  return {
    type: 'round.update',
    runId: start.runId,
    round: start.round,
    baseVersion: start.modelVersion,
    numExamples: 10,
    delta,
    ...fields,
  };
}

/**
 * A site driven by hand over the real protocol (handshake, encrypted frames, blob pulls). It
 * fetches the transfer set like an honest site, then says ready and answers each round only
 * when and how a test tells it to, so a test can make it a straggler, a dropout, or the sender
 * of an update the coordinator must refuse. It serves the coordinator's pulls of its updates,
 * unless it withholds them: then it announces updates and never sends a chunk.
 */
export class HandSite {
  private readonly outbox: BlobOutbox;
  /** The update blobs the coordinator asked this session for, by hash (hex), once per request. */
  readonly asked: string[] = [];

  private constructor(
    readonly name: string,
    readonly peer: RawPeer,
    readonly welcome: RunWelcome,
    private readonly fixture: HandSiteHost,
    sodium: Sodium,
    private readonly withholds: boolean,
  ) {
    this.outbox = new BlobOutbox(sodium);
    void this.serve();
  }

  /**
   * A new session for `name`, with the transfer set fetched and verified; not yet ready.
   * `withholds`: it never serves the chunks of the updates it announces.
   */
  static async join(
    fixture: HandSiteHost,
    sodium: Sodium,
    name: string,
    options: { readonly withholds?: boolean } = {},
  ): Promise<HandSite> {
    const { keys } = fixture.workspace;
    const identity = identityKeyPair(
      identityFileSchema.parse(JSON.parse(await readFile(keys.siteIdentities[name]!, 'utf8'))),
    );
    const peer = await RawPeer.connect(fixture.coordinator.url, sodium);
    const session = await peer.handshake(identity, decodeKey(keys.coordinatorPublicKey));
    if (typeof session === 'string') throw new Error(`${name}: handshake refused: ${session}`);
    const welcome = await peer.nextOf('run.welcome');
    const blob = welcome.teacher.blob;
    // The default chunk size makes the transfer set one chunk, well inside one request window.
    peer.send({ type: 'blob.request', hash: blob.hash, from: 0, count: blob.chunkHashes.length });
    for (let i = 0; i < blob.chunkHashes.length; i++) await peer.nextOf('blob.chunk');
    return new HandSite(name, peer, welcome, fixture, sodium, options.withholds ?? false);
  }

  /** Says ready; resolves once the coordinator has acted on it (a round may have opened). */
  async ready(): Promise<void> {
    const { events } = this.fixture.coordinator;
    if (!events) throw new Error('ready() waits on an in-process coordinator; use sendReady()');
    const seen = new Promise<void>((resolve) => {
      const check = (e: { peer: string; direction: string; kind: string }): void => {
        if (e.peer !== this.name || e.direction !== 'in' || e.kind !== 'site.ready') return;
        events.off('protocol', check);
        // The coordinator handles the message synchronously right after recording it, so
        // whoever awaits this resumes after the coordinator has acted on it.
        resolve();
      };
      events.on('protocol', check);
    });
    this.sendReady();
    await seen;
  }

  /** Says ready without waiting for the coordinator to act on it. */
  sendReady(): void {
    this.peer.send({
      type: 'site.ready',
      transferHash: this.welcome.teacher.blob.hash,
      backend: 'hand',
    });
  }

  /** The next round.start this session received. */
  nextStart(): Promise<RoundStart> {
    return this.peer.nextOf('round.start');
  }

  nextOf<T extends CoordinatorMessage['type']>(
    type: T,
  ): Promise<Extract<CoordinatorMessage, { type: T }>> {
    return this.peer.nextOf(type);
  }

  /**
   * Answers `start` with a delta of HAND_DELTA_VALUE everywhere, as an honest site would;
   * `fields` replaces what an honest site would put in the update.
   */
  answer(
    start: RoundStart,
    fields: Partial<Pick<RoundUpdate, 'runId' | 'round' | 'baseVersion'>> = {},
  ): BlobManifest {
    const manifest = this.outbox.offer(handDelta(this.welcome.student), 64 * 1024);
    this.peer.send(updateFor(start, manifest, fields));
    return manifest;
  }

  /**
   * Announces `bytes` (a masked vector, a poisoned delta) as this site's update blob for
   * `start`, claiming `numExamples` (10 unless given).
   */
  offer(start: RoundStart, bytes: Uint8Array, numExamples?: number): void {
    const fields = numExamples === undefined ? {} : { numExamples };
    this.peer.send(updateFor(start, this.outbox.offer(bytes, 64 * 1024), fields));
  }

  /** The global model `start` trains from, pulled and decoded as an honest site would. */
  async model(start: RoundStart): Promise<NamedTensor[]> {
    const { hash, chunkHashes } = start.model;
    this.peer.send({ type: 'blob.request', hash, from: 0, count: chunkHashes.length });
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < chunkHashes.length; i++)
      chunks.push((await this.peer.nextOf('blob.chunk')).data);
    return unwrap(decodeTensorBlob(Buffer.concat(chunks)));
  }

  /**
   * What the coordinator said to this site's oldest update not yet looked at: 'accepted', the
   * code of an update.rejected, or 'refused: <code>' when it ended the session instead.
   */
  async verdict(): Promise<string> {
    try {
      const reply = await this.peer.nextOfAny(['update.accepted', 'update.rejected']);
      return reply.type === 'update.accepted' ? 'accepted' : reply.code;
    } catch {
      // The refusal arrives before the disconnect, so it has settled by now if there was one.
      return Promise.race([
        this.peer.refusal.then((code) => `refused: ${code}`),
        this.peer.disconnected.then(() => 'disconnected'),
      ]);
    }
  }

  /**
   * Waits until the coordinator has asked for the blob `hash` (hex). A withholding site's own
   * serve loop takes every request, so a test that wants to answer one itself waits here.
   */
  async askedFor(hash: string): Promise<void> {
    while (!this.asked.includes(hash)) {
      if (!this.connected)
        throw new Error(`${this.name}: the session ended before ${hash} was asked for`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** The connection drops without a farewell, as a crashed site's would. */
  async drop(): Promise<void> {
    this.peer.close();
    await this.peer.disconnected;
  }

  get connected(): boolean {
    return this.peer.socket.connected;
  }

  /** Answers (or, withholding, only notes) the coordinator's pulls until the session ends. */
  private async serve(): Promise<void> {
    try {
      for (;;) {
        const request = await this.peer.nextOf('blob.request');
        this.asked.push(toHex(request.hash));
        if (this.withholds) continue;
        for (const index of unwrap(this.outbox.plan(request.hash, request.from, request.count))) {
          const data = this.outbox.chunk(request.hash, index)!;
          this.peer.send({ type: 'blob.chunk', hash: request.hash, index, data });
        }
      }
    } catch {
      // The session ended: nothing more to serve.
    }
  }
}
