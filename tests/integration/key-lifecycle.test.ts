import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateSiteKey } from '../../cli/keys.js';
import { readPublicKey } from '../../cli/keys.js';
import { enrolSite, revokeSite, rotateSiteKey } from '../../coordinator/sites/allow-list-file.js';
import {
  decodeKey,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  type IdentityKeyPair,
  type Sodium,
} from '../../protocol/index.js';
import { RawPeer } from '../../harness/raw-peer.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

describe('site key lifecycle: enrol, revoke, rotate on a running coordinator', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let coordinatorKey: Uint8Array;
  let allowList: string;
  let keyDir: string;

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({ sites: 2, rounds: 1 });
    coordinatorKey = decodeKey(fixture.workspace.keys.coordinatorPublicKey);
    allowList = fixture.workspace.keys.allowList;
    keyDir = await mkdtemp(path.join(tmpdir(), 'fedistill-keys-'));
  });

  after(async () => {
    await fixture?.dispose();
  });

  const identity = async (file: string): Promise<IdentityKeyPair> =>
    identityKeyPair(identityFileSchema.parse(JSON.parse(await readFile(file, 'utf8'))));

  /** Runs an edit and waits until the coordinator has applied it. */
  async function applied(editing: Promise<unknown>): Promise<void> {
    const reloaded = once(fixture.coordinator.events, 'allowList');
    await editing;
    await reloaded;
  }

  async function handshake(key: IdentityKeyPair): Promise<{ peer: RawPeer; outcome: string }> {
    const peer = await RawPeer.connect(fixture.coordinator.url, sodium);
    const outcome = await peer.handshake(key, coordinatorKey);
    return { peer, outcome: typeof outcome === 'string' ? outcome : 'established' };
  }

  it('a new site is refused until enrolled, then admitted', async () => {
    const written = await generateSiteKey(keyDir, 'site-9');
    const key = await identity(written.identity);
    assert.equal((await handshake(key)).outcome, 'handshake.unknown_site');
    await applied(enrolSite(allowList, await readPublicKey(written.publicKey)));
    const { peer, outcome } = await handshake(key);
    assert.equal(outcome, 'established');
    assert.equal((await peer.nextOf('run.welcome')).site, 'site-9');
    peer.close();
  });

  it("a revoked site's live session closes at once, and its next handshake is refused", async () => {
    const key = await identity(path.join(keyDir, 'site-9.key'));
    const { peer, outcome } = await handshake(key);
    assert.equal(outcome, 'established');
    await applied(revokeSite(allowList, 'site-9'));
    assert.equal(await peer.refusal, 'site.revoked');
    await peer.disconnected;
    assert.equal((await handshake(key)).outcome, 'site.revoked');
  });

  it('a rotated key: the old key is cut off and refused, the new one admitted', async () => {
    const oldKey = await identity(fixture.workspace.keys.siteIdentities['site-2']!);
    const live = await handshake(oldKey);
    assert.equal(live.outcome, 'established');
    const rotated = await generateSiteKey(path.join(keyDir, 'rotated'), 'site-2');
    await applied(rotateSiteKey(allowList, await readPublicKey(rotated.publicKey)));
    assert.equal(await live.peer.refusal, 'site.revoked');
    assert.equal((await handshake(oldKey)).outcome, 'site.revoked');
    const fresh = await handshake(await identity(rotated.identity));
    assert.equal(fresh.outcome, 'established');
    fresh.peer.close();
  });

  it('a broken allow-list file is not applied: the list in force stays', async () => {
    const before = await readFile(allowList, 'utf8');
    const rejected = once(fixture.coordinator.events, 'allowListRejected');
    await writeFile(allowList, '{ "kind": "fedistill.allow-list", "sites": [');
    const [reason] = (await rejected) as [string];
    assert.match(reason, /not JSON/);
    const site1 = await identity(fixture.workspace.keys.siteIdentities['site-1']!);
    const { peer, outcome } = await handshake(site1);
    assert.equal(outcome, 'established');
    peer.close();
    await writeFile(allowList, before);
  });

  it('the sites CLI refuses to enrol a name twice or revoke an unknown site', async () => {
    const again = await generateSiteKey(path.join(keyDir, 'again'), 'site-1');
    await assert.rejects(
      enrolSite(allowList, await readPublicKey(again.publicKey)),
      /already enrolled/,
    );
    await assert.rejects(revokeSite(allowList, 'site-77'), /not enrolled/);
  });
});
