import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { SessionLoop, type SiteConnection } from '../../client/session-loop.js';
import { PrivacyLedger } from '../../client/privacy-ledger.js';
import { siteConfigSchema } from '../../client/site-config.js';
import { TransferCache } from '../../client/transfer-cache.js';
import {
  fail,
  FedistillError,
  loadSodium,
  ok,
  type CoordinatorMessage,
  type ErrorCode,
  type Result,
  type SiteMessage,
  type Sodium,
  unwrap,
} from '../../protocol/index.js';

/** A coordinator connection that replays a script and records what the site says. */
class ScriptedConnection implements SiteConnection {
  bytesSent = 10;
  bytesReceived = 20;
  readonly sent: SiteMessage[] = [];
  readonly left: (ErrorCode | 'run.complete')[] = [];
  closed = false;

  constructor(private readonly script: Result<CoordinatorMessage>[]) {}

  next(): Promise<Result<CoordinatorMessage>> {
    return Promise.resolve(this.script.shift() ?? fail('session.closed', 'the script ended'));
  }
  send(message: SiteMessage): void {
    this.sent.push(message);
  }
  leave(reason: ErrorCode | 'run.complete'): Promise<void> {
    this.left.push(reason);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** A message built by hand: the loop dispatches on `type` and reads only what it needs. */
const message = (fields: { type: CoordinatorMessage['type'] } & Record<string, unknown>) =>
  ok(fields as CoordinatorMessage);

describe('the site session loop', () => {
  let sodium: Sodium;
  let cacheDir: string;
  let ledger: PrivacyLedger;
  before(async () => {
    sodium = await loadSodium();
    cacheDir = await mkdtemp(path.join(tmpdir(), 'fedistill-loop-'));
    ledger = unwrap(await PrivacyLedger.open(cacheDir));
  });

  const loop = () =>
    new SessionLoop({
      sodium,
      config: siteConfigSchema.parse({
        coordinator: { url: 'http://127.0.0.1:1', publicKey: `${'A'.repeat(43)}=` },
        identityFile: 'site.identity.json',
        data: { kind: 'csv', path: 'private.csv' },
        cacheDir,
      }),
      cache: new TransferCache(sodium, cacheDir),
      ledger,
      split: {
        train: {
          featureNames: ['x'],
          rows: 1,
          features: 1,
          inputs: Float32Array.of(0),
          labels: Int32Array.of(0),
        },
        validation: undefined,
      },
      backend: 'wasm',
      identity: { publicKey: new Uint8Array(32), privateKey: new Uint8Array(64) },
      site: 'alpha',
      log: () => {},
    });

  /** Serves one scripted session that must end the run; returns its code. */
  const refusedWith = async (connection: ScriptedConnection): Promise<ErrorCode> => {
    const error = await loop()
      .serve(connection)
      .then(
        () => assert.fail('the session should have ended the run'),
        (e: unknown) => e,
      );
    assert.ok(error instanceof FedistillError);
    assert.ok(connection.closed);
    return error.code;
  };

  it('a dropped session is reported, and the run completes in the next one with both counted', async () => {
    const site = loop();
    const first = new ScriptedConnection([]);
    const dropped = await site.serve(first);
    assert.ok('dropped' in dropped && dropped.dropped.code === 'session.closed');
    assert.ok(first.closed);
    const second = new ScriptedConnection([
      message({ type: 'run.complete', runId: 'r', rounds: 3 }),
    ]);
    const outcome = await site.serve(second);
    assert.ok('summary' in outcome);
    assert.deepEqual(outcome.summary, {
      site: 'alpha',
      runId: 'r',
      roundsTrained: 0,
      backend: 'wasm',
      transferFromCache: false,
      sessions: 2,
      bytesSent: 20,
      bytesReceived: 40,
    });
    assert.deepEqual(second.left, ['run.complete']);
    site.dispose();
  });

  it('a failed frame other than a closed session ends the run with its code', async () => {
    const connection = new ScriptedConnection([fail('frame.replay', 'a replayed frame')]);
    assert.equal(await refusedWith(connection), 'frame.replay');
  });

  it('a round that starts before the site is ready ends the session as an unexpected message', async () => {
    const connection = new ScriptedConnection([
      message({ type: 'round.start', runId: 'r', round: 1 }),
    ]);
    assert.equal(await refusedWith(connection), 'protocol.unexpected_message');
    assert.deepEqual(connection.left, ['protocol.unexpected_message']);
  });

  it('a secure-aggregation step outside a secure round ends the session', async () => {
    const connection = new ScriptedConnection([
      message({ type: 'secagg.relay', runId: 'r', round: 1, shares: [] }),
    ]);
    assert.equal(await refusedWith(connection), 'protocol.unexpected_message');
    assert.deepEqual(connection.left, ['protocol.unexpected_message']);
  });

  it('a request for a blob the site does not offer ends the session with blob.unknown', async () => {
    const connection = new ScriptedConnection([
      message({ type: 'blob.request', hash: new Uint8Array(32), from: 0, count: 1 }),
    ]);
    assert.equal(await refusedWith(connection), 'blob.unknown');
    assert.deepEqual(connection.sent, []);
  });

  it('a chunk of a blob the site is not pulling ends the session with blob.unrequested', async () => {
    const connection = new ScriptedConnection([
      message({ type: 'blob.chunk', hash: new Uint8Array(32), index: 0, data: Uint8Array.of(1) }),
    ]);
    assert.equal(await refusedWith(connection), 'blob.unrequested');
    assert.deepEqual(connection.left, ['blob.unrequested']);
  });
});
