import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SiteSecureRound } from '../../client/secure-round.js';
import type { FoldResult, StageEnd } from '../../coordinator/runs/round/round-fold.js';
import { SecureFold } from '../../coordinator/runs/secure/secure-fold.js';
import {
  degreeFor,
  unwrap,
  type CoordinatorMessage,
  type NamedTensor,
  type SecureRound,
} from '../../protocol/index.js';
import { SecAggFederation } from '../support/secagg-parties.js';

/**
 * The coordinator's secure fold driven through all its stages by four real site rounds (the
 * client's SiteSecureRound), on one 6-weight tensor. What is checked: the stages follow
 * PROTOCOL.md section 11 (the survivor set is signed before any unmask request goes out), the
 * model is the global one plus the survivors' mean, and a failure after the unmask request
 * says that the sum may have been revealed (so its privacy is spent) while one before it
 * does not.
 */
let federation: SecAggFederation;

before(async () => {
  federation = await SecAggFederation.create(4);
});

const global: NamedTensor[] = [{ name: 'w', shape: [6], values: new Float32Array(6) }];
const deltas = [0.1, -0.2, 0.3, 0.05].map((v) => Float32Array.from({ length: 6 }, () => v));

function settings(): SecureRound {
  const participants = [...federation.names];
  const { degree, threshold } = degreeFor(participants.length);
  return {
    attempt: 0,
    participants,
    identities: participants.map((site) => ({
      site,
      publicKey: federation.identityOf(site)!,
    })),
    graphSeed: 9,
    degree,
    threshold,
    clip: 1,
    levels: Math.floor((2 ** 32 - 1) / participants.length),
  };
}

/** Runs the fold; `silentAt` names the stage and the sites that stop answering there. */
async function run(options: {
  readonly quorum?: number;
  readonly silentAt?: {
    readonly stage: 'consistency' | 'unmask';
    readonly sites: readonly string[];
  };
}): Promise<{ result: FoldResult; stages: string[]; sent: CoordinatorMessage['type'][] }> {
  const round = settings();
  const inbox = new Map<string, CoordinatorMessage[]>(federation.names.map((s) => [s, []]));
  const sent: CoordinatorMessage['type'][] = [];
  const fold = new SecureFold({
    sodium: federation.sodium,
    runId: 'run-1',
    round: 1,
    settings: round,
    global,
    dimension: 6,
    quorum: options.quorum ?? 3,
    send: (site, message) => {
      inbox.get(site)!.push(message);
      sent.push(message.type);
    },
  });
  const sites = new Map(
    federation.names.map((site) => [
      site,
      new SiteSecureRound(federation.sodium, {
        site,
        identity: federation.identity(site),
        runId: 'run-1',
        round: 1,
        settings: round,
        dimension: 6,
      }),
    ]),
  );
  const take = (site: string) => inbox.get(site)!.shift()!;
  const stages: string[] = [];
  const advance = async (): Promise<StageEnd> => {
    const end = await fold.endStage();
    if ('stage' in end) stages.push(end.stage);
    return end;
  };
  const base = { runId: 'run-1', round: 1 };
  for (const [site, secure] of sites) {
    unwrap(fold.step(site, { type: 'secagg.keys', ...base, keys: unwrap(secure.keys()) }));
  }
  await advance();
  for (const [site, secure] of sites) {
    const roster = take(site);
    assert.equal(roster.type, 'secagg.roster');
    if (roster.type !== 'secagg.roster') continue;
    const shares = unwrap(secure.share(roster.roster));
    unwrap(fold.step(site, { type: 'secagg.shares', ...base, shares }));
  }
  await advance();
  for (const [i, [site, secure]] of [...sites].entries()) {
    const relay = take(site);
    if (relay.type !== 'secagg.relay') assert.fail(`${relay.type}, not a relay`);
    unwrap(secure.receive(relay.shares));
    const masked = unwrap(await secure.masked([{ ...global[0]!, values: deltas[i]! }]));
    unwrap(fold.update(site, { bytes: masked, numExamples: 1, blobHash: '' }));
  }
  let end = await advance();
  if ('result' in end) return { result: end.result, stages, sent };
  const silentAt = (stage: string) =>
    options.silentAt?.stage === stage ? options.silentAt.sites : [];
  let silent = silentAt('consistency');
  for (const [site, secure] of sites) {
    const survivors = take(site);
    if (survivors.type !== 'secagg.survivors') assert.fail(`${survivors.type}, not survivors`);
    if (silent.includes(site)) continue;
    const signature = unwrap(secure.signSurvivors(survivors.set));
    unwrap(fold.step(site, { type: 'secagg.signature', ...base, signature }));
  }
  end = await advance();
  if ('result' in end) return { result: end.result, stages, sent };
  silent = [...silent, ...silentAt('unmask')];
  for (const [site, secure] of sites) {
    if (silent.includes(site)) continue;
    const request = take(site);
    if (request.type !== 'secagg.unmask') assert.fail(`${request.type}, not an unmask request`);
    const response = unwrap(secure.unmask(request.request));
    unwrap(fold.step(site, { type: 'secagg.unmask_response', ...base, response }));
  }
  end = await advance();
  assert.ok('result' in end);
  return { result: end.result, stages, sent };
}

describe('the secure fold', () => {
  it('collects signatures on the survivor set before asking for shares; the model is the mean', async () => {
    const { result, stages, sent } = await run({});
    assert.deepEqual(stages, ['shares', 'masked', 'consistency', 'unmask']);
    assert.ok(sent.lastIndexOf('secagg.survivors') < sent.indexOf('secagg.unmask'));
    assert.ok(result.ok);
    const mean = (0.1 - 0.2 + 0.3 + 0.05) / 4;
    for (const v of result.model[0]!.values) assert.ok(Math.abs(v - mean) < 1e-6, `${v}`);
  });

  it('fewer masked updates than the quorum: the attempt fails before any survivor set goes out', async () => {
    const { result, sent } = await run({ quorum: 5 });
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.revealed, undefined);
    assert.ok(!sent.includes('secagg.survivors'));
  });

  it('a failure after the unmask request went out is marked revealed: its privacy is spent', async () => {
    // Complete graph of 4, t = 2: with two signers silent at unmasking, an answering site's
    // self-mask seed has one answering holder left.
    const { result, sent } = await run({
      silentAt: { stage: 'unmask', sites: federation.names.slice(0, 2) },
    });
    assert.ok(sent.includes('secagg.unmask'));
    assert.equal(!result.ok && result.issue?.code, 'secagg.insufficient_shares');
    assert.equal(!result.ok && result.revealed, true);
  });

  it('too few signatures fail the attempt before any unmask request: nothing revealed', async () => {
    const { result, sent } = await run({
      silentAt: { stage: 'consistency', sites: federation.names.slice(0, 2) },
    });
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.revealed, undefined);
    assert.equal(!result.ok && result.issue?.code, 'secagg.insufficient_signatures');
    assert.ok(!sent.includes('secagg.unmask'));
  });
});
