import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { FederationKeys } from '../../client/federation-keys.js';
import { admitRound } from '../../client/privacy-guard.js';
import { PrivacyLedger } from '../../client/privacy-ledger.js';
import { RoundHandler, type SessionLink } from '../../client/round-handler.js';
import type { RunContext } from '../../client/run-context.js';
import { siteConfigSchema, type SiteConfig } from '../../client/site-config.js';
import {
  FedistillError,
  loadSodium,
  unwrap,
  type ErrorCode,
  type RoundStart,
  type SecureRound,
  type SiteMessage,
  type Sodium,
  type StudentSpec,
} from '../../protocol/index.js';

/** The student of these rounds: 3 inputs, 2 classes, 8 weights. */
const STUDENT: StudentSpec = { kind: 'mlp', inputs: 3, hidden: [], classes: 2 };
/** The grid of these rounds: clip 1 over 2,000 levels, a step of 0.001. */
const GRID = { clip: 1, levels: 2000 };

/** The noise (sigma^2 in grid steps) that is a multiplier z at clip norm C: PROTOCOL.md 11.2. */
const sigma2For = (z: number, clipNorm = 1) => (z * (clipNorm / 0.001 + Math.sqrt(8))) ** 2;

/** A coordinator that deviates: round.start built by hand, with whatever noise it likes. */
function roundStart(fields: {
  clipNorm?: number;
  secure?: Partial<SecureRound> | false;
}): RoundStart {
  const { clipNorm = 1, secure = {} } = fields;
  return {
    type: 'round.start',
    runId: 'run-1',
    round: 1,
    localEpochs: 1,
    batchSize: 8,
    ...(clipNorm ? { clipNorm } : {}),
    ...(secure === false ? {} : { secureAggregation: { attempt: 0, ...GRID, ...secure } }),
  } as RoundStart;
}

const privacy = (minNoiseMultiplier: number, maxEpsilon: number): SiteConfig['privacy'] =>
  siteConfigSchema.shape.privacy.parse({ minNoiseMultiplier, maxEpsilon });

describe('a site that guards its own privacy against the coordinator', () => {
  let sodium: Sodium;
  before(async () => {
    sodium = await loadSodium();
  });

  const emptyLedger = async () =>
    unwrap(await PrivacyLedger.open(await mkdtemp(path.join(tmpdir(), 'fedistill-guard-'))));

  /** Starts `start` on a real round handler; returns what the site said and how it ended. */
  async function startOn(
    config: SiteConfig['privacy'],
    start: RoundStart,
    ledger?: PrivacyLedger,
    federation?: FederationKeys,
  ): Promise<{
    sent: SiteMessage[];
    pulled: number;
    stopped?: { code: ErrorCode; message: string };
  }> {
    const sent: SiteMessage[] = [];
    let pulled = 0;
    const link: SessionLink = {
      send: (message) => sent.push(message),
      stop: (code, message) => {
        throw new FedistillError({ code, message });
      },
      abort: (error) => assert.fail(`no detached step runs here: ${String(error)}`),
      pull: () => pulled++,
    };
    const handler = new RoundHandler({
      sodium,
      site: 'site-1',
      identity: sodium.crypto_sign_keypair(),
      limits: { maxLocalEpochs: 50, maxBatchSize: 4096, maxParameters: 1e6 },
      privacy: config,
      ledger: ledger ?? (await emptyLedger()),
      ...(federation ? { federation } : {}),
      trainingRows: 1,
      link,
      log: () => {},
    });
    const context = { welcome: { runId: 'run-1', student: STUDENT } } as RunContext;
    try {
      handler.start(context, start);
      return { sent, pulled };
    } catch (error) {
      assert.ok(error instanceof FedistillError);
      return { sent, pulled, stopped: { code: error.code, message: error.message } };
    }
  }

  it('refuses a secure round whose noise is below its floor, before it sends anything', async () => {
    const { sent, pulled, stopped } = await startOn(
      privacy(1, 50),
      roundStart({ clipNorm: 2, secure: { noiseSigma2: sigma2For(0.5, 2) } }),
    );
    assert.equal(stopped?.code, 'site.noise_below_floor');
    assert.match(stopped.message, /noise multiplier of 0\.500; this site's floor is 1/);
    assert.deepEqual(sent, []);
    assert.equal(pulled, 0);
  });

  it('refuses a secure round without noise, or without a clip norm to bound it', async () => {
    const noNoise = await startOn(privacy(1, 50), roundStart({ secure: {} }));
    assert.equal(noNoise.stopped?.code, 'site.noise_below_floor');
    assert.match(noNoise.stopped.message, /asks for no noise/);
    const noClip = await startOn(
      privacy(1, 50),
      roundStart({ clipNorm: 0, secure: { noiseSigma2: sigma2For(5) } }),
    );
    assert.equal(noClip.stopped?.code, 'site.noise_below_floor');
  });

  it('refuses a round without secure aggregation: its update would leave without its noise', async () => {
    const { stopped, pulled } = await startOn(privacy(1, 50), roundStart({ secure: false }));
    assert.equal(stopped?.code, 'site.noise_below_floor');
    assert.match(stopped.message, /not securely aggregated/);
    assert.equal(pulled, 0);
  });

  it('refuses to mask once one more attempt would take its ledger past its budget', async () => {
    const ledger = await emptyLedger();
    // One attempt at z = 1 spent 4.73 at delta 1e-5; a second would make it 7.08.
    await ledger.record({
      runId: 'run-0',
      round: 3,
      attempt: 1,
      noiseMultiplier: 1,
      delta: 1e-5,
      at: new Date().toISOString(),
    });
    const { sent, stopped } = await startOn(
      privacy(1, 6),
      roundStart({ secure: { noiseSigma2: sigma2For(1) } }),
      ledger,
    );
    assert.equal(stopped?.code, 'site.budget_exhausted');
    assert.match(stopped.message, /past its budget of 6/);
    assert.deepEqual(sent, []);
    assert.ok(
      admitRound(privacy(1, 7.1), ledger, roundStart({ secure: { noiseSigma2: sigma2For(1) } }), 8)
        .ok,
    );
  });

  it('admits a round at its floor, and without a privacy config enforces nothing', async () => {
    const ledger = await emptyLedger();
    assert.ok(
      admitRound(
        privacy(0.5, 50),
        ledger,
        roundStart({ secure: { noiseSigma2: sigma2For(0.5) } }),
        8,
      ).ok,
    );
    const plain = await startOn(undefined, roundStart({ secure: false }));
    assert.equal(plain.stopped, undefined);
    assert.equal(plain.pulled, 1, 'it went on to pull the global model');
  });

  describe('with the federation pinned: identities the coordinator invents or swaps', () => {
    const key = (seed: number) => Buffer.from(new Uint8Array(32).fill(seed));
    const pinned: FederationKeys = new Map([
      ['site-1', key(1).toString('base64')],
      ['site-2', key(2).toString('base64')],
      ['site-3', key(3).toString('base64')],
    ]);
    const listing = (identities: [string, number][]) =>
      roundStart({
        secure: {
          participants: identities.map(([site]) => site),
          identities: identities.map(([site, seed]) => ({ site, publicKey: key(seed) })),
        },
      });

    it('refuses a round that lists a site the allow-list does not hold', async () => {
      const start = listing([
        ['site-1', 1],
        ['site-2', 2],
        ['sybil-9', 9],
      ]);
      const { sent, pulled, stopped } = await startOn(undefined, start, undefined, pinned);
      assert.equal(stopped?.code, 'secagg.unknown_site');
      assert.match(stopped.message, /sybil-9 is not in this site's copy of the allow-list/);
      assert.deepEqual(sent, []);
      assert.equal(pulled, 0);
    });

    it('refuses a round that lists an enrolled site with another key', async () => {
      const start = listing([
        ['site-1', 1],
        ['site-2', 2],
        ['site-3', 7],
      ]);
      const { stopped } = await startOn(undefined, start, undefined, pinned);
      assert.equal(stopped?.code, 'secagg.unknown_site');
      assert.match(stopped.message, /site-3 with a key that is not the one/);
    });

    it('takes part when every participant is enrolled with its key', async () => {
      const start = listing([
        ['site-1', 1],
        ['site-2', 2],
        ['site-3', 3],
      ]);
      const { sent, stopped } = await startOn(undefined, start, undefined, pinned);
      assert.equal(stopped, undefined);
      assert.deepEqual(
        sent.map((m) => m.type),
        ['secagg.keys'],
      );
    });
  });
});
