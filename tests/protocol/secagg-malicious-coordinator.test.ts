import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  consistencyQuorum,
  roundContextHash,
  roundDigest,
  SecAggSiteState,
  survivorSetBytes,
  unwrap,
  type SecAggSite,
  type SurvivorSignature,
  type UnmaskResponse,
} from '../../protocol/index.js';
import { SecAggFederation, type SharedRound } from '../support/secagg-parties.js';

/**
 * A coordinator that follows SecAgg+ until unmasking and then deviates, played against the
 * real site code (PROTOCOL.md section 11, threat model). Seven sites on a complete graph:
 * k = 6, t = 4, quorum m = max(t, floor(2n/3) + 1) = 5. Every case asserts what the sites
 * revealed: a deviation must get no share at all, or (where an honest site cannot tell) none
 * that unmasks anyone.
 */
let federation: SecAggFederation;
let names: readonly string[];

before(async () => {
  federation = await SecAggFederation.create(7);
  names = federation.names;
});

const SITES = 7;
const DIMENSION = 8;

/** Every site has masked its input; the coordinator holds all seven masked inputs. */
const roundSpec = (attempt = 0, round = 3) =>
  federation.spec({ degree: 6, threshold: 4, dimension: DIMENSION, sites: SITES, attempt, round });

function maskedRound(attempt = 0, round = 3): SharedRound {
  const shared = federation.setUp(roundSpec(attempt, round));
  for (const [site, party] of shared.parties) {
    unwrap(party.receiveShares(shared.relayed.get(site)!));
    unwrap(shared.server.receiveMasked(site, unwrap(party.mask(new Uint32Array(DIMENSION)))));
  }
  return shared;
}

/** Asks `party`, recording what it revealed; a refusal reveals nothing. */
function ask(party: SecAggSite, request: unknown, revealed: UnmaskResponse[]) {
  const answer = party.unmask(request);
  if (answer.ok) revealed.push(answer.value);
  return answer;
}

/** Owners for whom both a self-mask share and a mask-key share left some site. */
function bothKindsRevealed(revealed: readonly UnmaskResponse[]): string[] {
  const selfMask = new Set(revealed.flatMap((r) => r.selfMaskShares.map((s) => s.owner)));
  const maskKey = new Set(revealed.flatMap((r) => r.maskKeyShares.map((s) => s.owner)));
  return [...selfMask].filter((owner) => maskKey.has(owner));
}

describe('SecAgg+ against a coordinator that deviates at unmasking', () => {
  it('has the quorum the threat model sizes: 2 (m - c) > n - c for c < n / 3', () => {
    assert.equal(consistencyQuorum(7, 4), 5);
    assert.equal(consistencyQuorum(3, 2), 3);
    assert.equal(consistencyQuorum(10, 5), 7);
    assert.equal(consistencyQuorum(100, 9), 67);
    for (const n of [3, 4, 7, 10, 31, 100, 1000]) {
      const m = consistencyQuorum(n, 2);
      for (let c = 0; 3 * c < n; c++) assert.ok(2 * (m - c) > n - c, `n ${n}, c ${c}`);
    }
  });

  it('inconsistent survivor sets: each group signs its own set, neither reaches the quorum', () => {
    const { parties } = maskedRound();
    const target = names[0]!;
    // The attack: the target's b shares from group A (told it survived), its neighbours' mask
    // keys from group B (told they dropped). Each site alone sees a plausible set.
    const groupA = names.slice(0, 4);
    const groupB = names.slice(4);
    const setA = [...names];
    // Both sets are large enough to sign: the quorum on the count alone stops nothing here.
    const setB = names.filter((s) => s !== target && s !== names[1]!);
    const sign = (sites: readonly string[], survivors: readonly string[]) =>
      sites.map((s) => unwrap(parties.get(s)!.signSurvivors({ survivors })));
    const signedA = sign(groupA, setA);
    const signedB = sign(groupB, setB);
    const signatures = [...signedA, ...signedB];
    const revealed: UnmaskResponse[] = [];
    for (const site of groupA) {
      const dropped: string[] = [];
      const answer = ask(parties.get(site)!, { survivors: setA, dropped, signatures }, revealed);
      assert.equal(!answer.ok && answer.error.code, 'secagg.insufficient_signatures');
    }
    for (const site of groupB) {
      const dropped = names.filter((s) => !setB.includes(s));
      const answer = ask(parties.get(site)!, { survivors: setB, dropped, signatures }, revealed);
      assert.equal(!answer.ok && answer.error.code, 'secagg.insufficient_signatures');
    }
    assert.deepEqual(revealed, []);
    for (const party of parties.values()) assert.equal(party.state, SecAggSiteState.Failed);
  });

  it('with one colluding site signing both sets, only one set can be answered', () => {
    const { parties } = maskedRound();
    const colluder = names[6]!;
    const groupA = names.slice(0, 4);
    const groupB = names.slice(4, 6);
    const setA = [...names];
    const setB = names.slice(2);
    const signedA = groupA.map((s) => unwrap(parties.get(s)!.signSurvivors({ survivors: setA })));
    const signedB = groupB.map((s) => unwrap(parties.get(s)!.signSurvivors({ survivors: setB })));
    // The colluder hands over its identity key: it signs whatever set the coordinator likes.
    const spec = roundSpec();
    const digest = roundDigest(federation.sodium, spec, federation.identityOf, names);
    const context = roundContextHash(federation.sodium, spec.context);
    const forge = (survivors: readonly string[]): SurvivorSignature => ({
      site: colluder,
      signature: federation.sodium.crypto_sign_detached(
        survivorSetBytes(context, digest, survivors),
        federation.identity(colluder).privateKey,
      ),
    });
    const revealed: UnmaskResponse[] = [];
    const requestB = {
      survivors: setB,
      dropped: names.filter((s) => !setB.includes(s)),
      signatures: [...signedB, forge(setB)],
    };
    for (const site of groupB) {
      const answer = ask(parties.get(site)!, requestB, revealed);
      assert.equal(!answer.ok && answer.error.code, 'secagg.insufficient_signatures');
    }
    const requestA = { survivors: setA, dropped: [], signatures: [...signedA, forge(setA)] };
    for (const site of groupA) unwrap(ask(parties.get(site)!, requestA, revealed));
    // Group A gave b shares of everyone and no mask key: the sum, not any one input.
    assert.deepEqual(bothKindsRevealed(revealed), []);
    assert.ok(revealed.every((r) => r.maskKeyShares.length === 0));
  });

  it('a live site declared dropped after its masked input arrived refuses; its input stays masked', () => {
    const { parties } = maskedRound();
    const victim = names[3]!;
    const survivors = names.filter((s) => s !== victim);
    const victimSigns = parties.get(victim)!.signSurvivors({ survivors });
    assert.equal(!victimSigns.ok && victimSigns.error.code, 'secagg.bad_request');
    const signatures = survivors.map((s) => unwrap(parties.get(s)!.signSurvivors({ survivors })));
    const revealed: UnmaskResponse[] = [];
    for (const site of survivors) {
      unwrap(ask(parties.get(site)!, { survivors, dropped: [victim], signatures }, revealed));
    }
    // Its mask key is out, as for any dropped site, but no share of its self-mask seed: the
    // masked input the coordinator holds stays masked by PRG(b).
    const victimSelfMask = revealed
      .flatMap((r) => r.selfMaskShares)
      .filter((s) => s.owner === victim);
    assert.equal(victimSelfMask.length, 0);
    assert.deepEqual(bothKindsRevealed(revealed), []);
  });

  it('a request replayed from another attempt or round carries signatures that do not verify', () => {
    const old = maskedRound(0);
    const oldSignatures = names.map((s) =>
      unwrap(old.parties.get(s)!.signSurvivors({ survivors: names })),
    );
    for (const [attempt, round] of [
      [1, 3],
      [0, 4],
    ] as const) {
      const now = maskedRound(attempt, round);
      const revealed: UnmaskResponse[] = [];
      for (const site of names) {
        unwrap(now.parties.get(site)!.signSurvivors({ survivors: names }));
        const request = { survivors: names, dropped: [], signatures: oldSignatures };
        const answer = ask(now.parties.get(site)!, request, revealed);
        assert.equal(!answer.ok && answer.error.code, 'secagg.insufficient_signatures');
      }
      assert.deepEqual(revealed, []);
    }
  });

  it('both share kinds asked for one owner are refused, with a quorum of signatures or not', () => {
    const { parties } = maskedRound();
    const signatures = names.map((s) =>
      unwrap(parties.get(s)!.signSurvivors({ survivors: names })),
    );
    const revealed: UnmaskResponse[] = [];
    const answer = ask(
      parties.get(names[0]!)!,
      { survivors: names, dropped: [names[2]!], signatures },
      revealed,
    );
    assert.equal(!answer.ok && answer.error.code, 'secagg.refused');
    assert.match(!answer.ok ? answer.error.message : '', new RegExp(names[2]!));
    // Refused once, it answers nothing more: the kinds cannot be had one at a time either.
    const again = ask(
      parties.get(names[0]!)!,
      { survivors: names, dropped: [], signatures },
      revealed,
    );
    assert.equal(!again.ok && again.error.code, 'secagg.unexpected_step');
    assert.deepEqual(revealed, []);
  });

  it('a survivor set smaller than the quorum (or than t) is never signed', () => {
    for (const survivors of [names.slice(0, 2), names.slice(0, 4)]) {
      const party = maskedRound().parties.get(names[0]!)!;
      const signed = party.signSurvivors({ survivors });
      assert.equal(!signed.ok && signed.error.code, 'secagg.insufficient_signatures');
      assert.equal(party.state, SecAggSiteState.Failed);
    }
  });

  it('a request for a set other than the one signed is refused', () => {
    const { parties } = maskedRound();
    const signatures = names.map((s) =>
      unwrap(parties.get(s)!.signSurvivors({ survivors: names })),
    );
    const revealed: UnmaskResponse[] = [];
    const fewer = names.slice(0, 6);
    const answer = ask(
      parties.get(names[0]!)!,
      { survivors: fewer, dropped: [names[6]!], signatures },
      revealed,
    );
    assert.equal(!answer.ok && answer.error.code, 'secagg.inconsistent');
    assert.deepEqual(revealed, []);
  });

  it('forged, repeated and outsiders’ signatures count for nothing', () => {
    const { parties } = maskedRound();
    const survivors = names.slice(0, 6);
    const real = survivors
      .slice(0, 4)
      .map((s) => unwrap(parties.get(s)!.signSurvivors({ survivors })));
    const outsider = unwrap(parties.get(names[6]!)!.signSurvivors({ survivors: names }));
    const forged = { site: names[4]!, signature: real[0]!.signature };
    const signatures = [...real, real[1]!, forged, { ...outsider, site: names[6]! }];
    const revealed: UnmaskResponse[] = [];
    const answer = ask(
      parties.get(names[0]!)!,
      { survivors, dropped: [names[6]!], signatures },
      revealed,
    );
    assert.equal(!answer.ok && answer.error.code, 'secagg.insufficient_signatures');
    assert.match(!answer.ok ? answer.error.message : '', /^4 valid/);
    assert.deepEqual(revealed, []);
  });

  it('the honest coordinator gets its answers: the set signed by all, once', () => {
    const shared = maskedRound();
    const request = unwrap(federation.consistencyRound(shared));
    const revealed: UnmaskResponse[] = [];
    for (const site of names) unwrap(ask(shared.parties.get(site)!, request, revealed));
    assert.equal(revealed.length, SITES);
    assert.deepEqual(bothKindsRevealed(revealed), []);
    const second = shared.parties.get(names[0]!)!.unmask(request);
    assert.equal(!second.ok && second.error.code, 'secagg.unexpected_step');
  });
});
