import { Inject, Injectable } from '@nestjs/common';
import {
  BlobAssembler,
  BlobOutbox,
  fail,
  MAX_CHUNKS_PER_REQUEST,
  ok,
  toHex,
  type BlobChunk,
  type BlobManifest,
  type BlobRequest,
  type Result,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import type { SiteChannel } from '../runs/site-channel.js';

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
  private readonly incoming = new Map<SiteChannel, Map<string, Incoming>>();
  private activeUploads = 0;
  private readonly uploadQueue: (() => void)[] = [];

  constructor(@Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup) {
    this.outbox = new BlobOutbox(setup.sodium);
  }

  offer(bytes: Uint8Array, chunkBytes: number): BlobManifest {
    return this.outbox.offer(bytes, chunkBytes);
  }

  withdraw(manifest: BlobManifest): void {
    this.outbox.withdraw(manifest.hash);
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
   * or with the reason it could not (the session ended, the site sent a bad chunk).
   */
  async pull(
    channel: SiteChannel,
    manifest: BlobManifest,
    maxBytes: number,
  ): Promise<Result<Uint8Array>> {
    if (manifest.bytes > maxBytes) {
      return fail(
        'blob.too_large',
        `a blob of ${manifest.bytes} bytes was offered; at most ${maxBytes} are accepted`,
      );
    }
    await this.uploadSlot();
    try {
      return await new Promise<Result<Uint8Array>>((resolve) => {
        const assembler = new BlobAssembler(this.setup.sodium, manifest);
        const key = toHex(manifest.hash);
        let pulls = this.incoming.get(channel);
        const first = !pulls;
        if (!pulls) {
          pulls = new Map();
          this.incoming.set(channel, pulls);
        }
        const registry = pulls;
        registry.set(key, {
          assembler,
          done: (result) => {
            registry.delete(key);
            resolve(result);
          },
        });
        // Registered after the pull, so a site that left while it waited for a slot is
        // answered at once (onClose runs immediately on a closed channel).
        if (first) {
          channel.onClose(() => {
            this.incoming.delete(channel);
            for (const pull of [...registry.values()]) {
              pull.done(fail('session.closed', 'the site left before its blob arrived'));
            }
          });
        }
        this.requestNext(channel, assembler);
      });
    } finally {
      this.releaseUploadSlot();
    }
  }

  /** A chunk the site sent in answer to a pull; an unasked or corrupt chunk is an error. */
  accept(channel: SiteChannel, chunk: BlobChunk): Result<true> {
    const pull = this.incoming.get(channel)?.get(toHex(chunk.hash));
    if (!pull) return fail('blob.unrequested', 'a chunk of a blob the coordinator is not pulling');
    const accepted = pull.assembler.accept(chunk);
    if (!accepted.ok) return accepted;
    if (pull.assembler.complete) pull.done(pull.assembler.result());
    else if (pull.assembler.idle) this.requestNext(channel, pull.assembler);
    return ok(true);
  }

  private requestNext(channel: SiteChannel, assembler: BlobAssembler): void {
    const window = assembler.nextRequest();
    if (window) channel.send({ type: 'blob.request', hash: assembler.manifest.hash, ...window });
  }

  private async uploadSlot(): Promise<void> {
    if (this.activeUploads < MAX_CONCURRENT_UPLOADS) {
      this.activeUploads++;
      return;
    }
    await new Promise<void>((resolve) => this.uploadQueue.push(resolve));
  }

  private releaseUploadSlot(): void {
    const next = this.uploadQueue.shift();
    if (next) next();
    else this.activeUploads--;
  }
}
