import { Inject, Injectable } from '@nestjs/common';
import {
  BlobAssembler,
  BlobOutbox,
  contentHash,
  fail,
  MAX_CHUNKS_PER_REQUEST,
  ok,
  toHex,
  type BlobChunk,
  type BlobManifest,
  type BlobRequest,
  type FedistillIssue,
  type Result,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import type { SiteChannel } from '../runs/site-channel.js';
import { UploadSlots } from './upload-slots.js';

/** A site may have this many chunks waiting to be sent before its requests count as an overrun. */
export const MAX_PENDING_CHUNKS_PER_SITE = 4 * MAX_CHUNKS_PER_REQUEST;
/** Updates pulled at once; the rest wait, so memory stays a few models, not one per site. */
export const MAX_CONCURRENT_UPLOADS = 4;

interface Outgoing {
  readonly queue: { hash: Uint8Array; index: number }[];
  waiting: boolean;
}

interface Incoming {
  readonly assembler: BlobAssembler;
  readonly done: (result: Result<Uint8Array>) => void;
  readonly progress: () => void;
}

/** A site's pulls in progress, and the blobs whose pulls were given up (their late chunks are dropped). */
interface SitePulls {
  readonly pulls: Map<string, Incoming>;
  readonly abandoned: Set<string>;
}

/** How the caller of a pull keeps it alive or ends it. */
export interface PullWatch {
  /** Settles when the pull is no longer wanted: it then ends with this issue, its slot freed. */
  readonly stop: Promise<FedistillIssue>;
  /** Called when the pull starts asking for chunks (it holds a slot), and on every chunk in. */
  readonly progress: () => void;
}

/**
 * Moves blobs between the coordinator and the sites. Sending is flow-controlled per site: a
 * chunk is sealed and handed to the socket only when the previous ones have left this process,
 * so a site that reads slowly holds at most its pending request indices here, not the bytes.
 * Receiving pulls a site's blob in windows, verifying each chunk.
 */
@Injectable()
export class TransferService {
  private readonly outbox: BlobOutbox;
  private readonly outgoing = new Map<SiteChannel, Outgoing>();
  private readonly incoming = new Map<SiteChannel, SitePulls>();
  private readonly slots = new UploadSlots(MAX_CONCURRENT_UPLOADS);

  constructor(@Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup) {
    this.outbox = new BlobOutbox(setup.sodium);
  }

  offer(bytes: Uint8Array, chunkBytes: number): BlobManifest {
    return this.outbox.offer(bytes, chunkBytes);
  }

  withdraw(manifest: BlobManifest): void {
    this.outbox.withdraw(manifest.hash);
  }

  /** True while the blob `hash` is offered. */
  offers(hash: Uint8Array): boolean {
    return this.outbox.has(hash);
  }

  /** A site asked for chunks of a blob the coordinator offers. */
  serve(channel: SiteChannel, request: BlobRequest): Result<true> {
    const planned = this.outbox.plan(request.hash, request.from, request.count);
    if (!planned.ok) return planned;
    let state = this.outgoing.get(channel);
    if (!state) {
      state = { queue: [], waiting: false };
      this.outgoing.set(channel, state);
      channel.onClose(() => this.outgoing.delete(channel));
    }
    if (state.queue.length + planned.value.length > MAX_PENDING_CHUNKS_PER_SITE) {
      return fail(
        'flow.overrun',
        `more than ${MAX_PENDING_CHUNKS_PER_SITE} chunks requested and not yet sent`,
      );
    }
    for (const index of planned.value) state.queue.push({ hash: request.hash, index });
    this.pump(channel, state);
    return ok(true);
  }

  private pump(channel: SiteChannel, state: Outgoing): void {
    while (state.queue.length > 0 && !channel.backlogged()) {
      const { hash, index } = state.queue.shift()!;
      const data = this.outbox.chunk(hash, index);
      // A blob withdrawn while queued (an old model) is simply not sent.
      if (data) channel.send({ type: 'blob.chunk', hash, index, data });
    }
    if (state.queue.length > 0 && !state.waiting) {
      state.waiting = true;
      channel.onDrain(() => {
        state.waiting = false;
        if (this.outgoing.get(channel) === state) this.pump(channel, state);
      });
    }
  }

  /**
   * Pulls a blob the site offered, at most `maxBytes` long. Resolves with the verified bytes,
   * or with the reason it could not (the session ended, the site sent a bad chunk, `watch.stop`).
   */
  async pull(
    channel: SiteChannel,
    manifest: BlobManifest,
    maxBytes: number,
    watch: PullWatch,
  ): Promise<Result<Uint8Array>> {
    if (manifest.bytes > maxBytes) {
      return fail(
        'blob.too_large',
        `a blob of ${manifest.bytes} bytes was offered; at most ${maxBytes} are accepted`,
      );
    }
    const ready = channel.prefetched?.(manifest);
    if (ready && !ready.ok) return ready;
    if (ready) {
      const { sodium } = this.setup;
      return ready.value.length === manifest.bytes &&
        sodium.memcmp(contentHash(sodium, ready.value), manifest.hash)
        ? ready
        : fail('blob.hash_mismatch', 'the blob pulled for this site does not match its manifest');
    }
    const slot = this.slots.take();
    let over = false;
    const stopped = watch.stop.then((error): Result<Uint8Array> => ({ ok: false, error }));
    const received = slot.granted.then(() =>
      // Stopped between the grant and now: nothing is asked of the site.
      over ? stopped : this.receive(channel, manifest, watch.progress),
    );
    const result = await Promise.race([received, stopped]);
    over = true;
    slot.release();
    this.abandon(channel, manifest);
    return result;
  }

  /** True while this end pulls (or just gave up pulling) the blob `hash` from the site. */
  expects(channel: SiteChannel, hash: Uint8Array): boolean {
    const site = this.incoming.get(channel);
    const key = toHex(hash);
    return site !== undefined && (site.pulls.has(key) || site.abandoned.has(key));
  }

  /** A chunk the site sent in answer to a pull; an unasked or corrupt chunk is an error. */
  accept(channel: SiteChannel, chunk: BlobChunk): Result<true> {
    const site = this.incoming.get(channel);
    const key = toHex(chunk.hash);
    const pull = site?.pulls.get(key);
    if (!pull) {
      // Chunks of a window asked for before the pull was given up are still on their way.
      if (site?.abandoned.has(key)) return ok(true);
      return fail('blob.unrequested', 'a chunk of a blob the coordinator is not pulling');
    }
    const accepted = pull.assembler.accept(chunk);
    if (!accepted.ok) return accepted;
    pull.progress();
    if (pull.assembler.complete) pull.done(pull.assembler.result());
    else if (pull.assembler.idle) this.requestNext(channel, pull.assembler);
    return ok(true);
  }

  /** Asks the site for the blob's chunks, window by window, until it is whole. */
  private receive(
    channel: SiteChannel,
    manifest: BlobManifest,
    progress: () => void,
  ): Promise<Result<Uint8Array>> {
    return new Promise((resolve) => {
      const assembler = new BlobAssembler(this.setup.sodium, manifest);
      const key = toHex(manifest.hash);
      let site = this.incoming.get(channel);
      const first = !site;
      if (!site) {
        site = { pulls: new Map(), abandoned: new Set() };
        this.incoming.set(channel, site);
      }
      const { pulls } = site;
      site.abandoned.delete(key);
      pulls.set(key, {
        assembler,
        progress,
        done: (result) => {
          pulls.delete(key);
          resolve(result);
        },
      });
      // Registered after the pull, so a site that left while it waited for a slot is
      // answered at once (onClose runs immediately on a closed channel).
      if (first) {
        channel.onClose(() => {
          this.incoming.delete(channel);
          for (const pull of [...pulls.values()]) {
            pull.done(fail('session.closed', 'the site left before its blob arrived'));
          }
        });
      }
      progress();
      this.requestNext(channel, assembler);
    });
  }

  /** The pull is over: if it ended unfinished, the chunks still coming for it are dropped. */
  private abandon(channel: SiteChannel, manifest: BlobManifest): void {
    const site = this.incoming.get(channel);
    const key = toHex(manifest.hash);
    if (site?.pulls.delete(key)) site.abandoned.add(key);
  }

  private requestNext(channel: SiteChannel, assembler: BlobAssembler): void {
    const window = assembler.nextRequest();
    if (window) channel.send({ type: 'blob.request', hash: assembler.manifest.hash, ...window });
  }
}
