import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { RawPeer } from '../../harness/raw-peer.js';
import { RawWebSocket } from '../../harness/raw-websocket.js';
import {
  decodeKey,
  loadSodium,
  SiteHandshake,
  SOCKET_EVENTS,
  MAX_FRAME_BYTES,
  type Sodium,
} from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * What an anonymous peer can cost a live coordinator. Each attack comes from its own loopback
 * address (127.0.0.2 and up; Linux routes all of 127/8 to lo); the honest sites use 127.0.0.1
 * and must finish their run afterwards.
 */
const PER_ADDRESS = 50;
const HANDSHAKE_BURST = 5;
const API_BURST = 40;
const SESSIONS_BURST = 3;
const SAMPLE_MS = 300;

describe('limits before authentication', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let storeFile: string;

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 2,
      rounds: 2,
      adjust: (config) => ({
        ...config,
        limits: {
          ...config.limits,
          connections: { total: 1024, perAddress: PER_ADDRESS },
          handshakes: { burst: HANDSHAKE_BURST, perSecond: 0.01 },
          api: { burst: API_BURST, perSecond: 0.01 },
          sessions: { burst: SESSIONS_BURST, perSecond: 0.01 },
          refusalSampleMs: SAMPLE_MS,
        },
        metrics: { ...config.metrics, public: true },
      }),
    });
    storeFile = (await loadCoordinatorConfig(fixture.workspace.coordinatorConfigFile)).storeFile;
  });

  after(async () => {
    await fixture?.dispose();
  });

  /** The coordinator's counter of unauthenticated refusals of this kind and code. */
  async function refusals(kind: string, code: string): Promise<number> {
    const text = await (await fetch(new URL('/metrics', fixture.coordinator.url))).text();
    const line = text
      .split('\n')
      .find((l) =>
        l.startsWith(`fedistill_unauthenticated_refusals_total{kind="${kind}",code="${code}"}`),
      );
    return line ? Number(line.split(' ').pop()) : 0;
  }

  /** Audit entries from `seq` on, read from the store as a second reader. */
  function auditFrom(seq: number): Record<string, unknown>[] {
    const db = new Database(storeFile, { readonly: true });
    try {
      const rows = db.prepare('SELECT event FROM audit_log WHERE seq >= ? ORDER BY seq').all(seq);
      return (rows as { event: string }[]).map(
        (r) => JSON.parse(r.event) as Record<string, unknown>,
      );
    } finally {
      db.close();
    }
  }

  function auditSize(): number {
    const db = new Database(storeFile, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;
    } finally {
      db.close();
    }
  }

  function request(
    method: string,
    path: string,
    localAddress: string,
    body?: string,
  ): Promise<number> {
    const { hostname, port } = new URL(fixture.coordinator.url);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: hostname,
          port,
          path,
          method,
          localAddress,
          agent: false,
          headers: body ? { 'content-type': 'application/json' } : {},
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('cuts off an oversized handshake initiation as it arrives, without buffering it', async () => {
    const body = Buffer.alloc(MAX_FRAME_BYTES, 7);
    const sockets = await Promise.all(
      Array.from({ length: 50 }, () => RawWebSocket.open(fixture.coordinator.url, '127.0.0.2')),
    );
    const rssBefore = process.memoryUsage().rss;
    for (const socket of sockets) socket.emitBinary(SOCKET_EVENTS.initiation, body);
    await Promise.all(sockets.map((s) => s.closed));
    const growthMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`RSS growth under 50 x 8 MiB initiations: ${growthMb.toFixed(1)} MB`);
    assert.ok(growthMb < 24, `RSS grew by ${growthMb.toFixed(1)} MB`);
    assert.equal(await refusals('connection', 'limits.pre_auth_bytes'), 50);
  });

  it('closes connections over the per-address cap and still serves other addresses', async () => {
    const opened = await Promise.allSettled(
      Array.from({ length: PER_ADDRESS + 10 }, () =>
        RawWebSocket.open(fixture.coordinator.url, '127.0.0.3'),
      ),
    );
    const live = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    assert.equal(live.length, PER_ADDRESS);
    const other = await RawWebSocket.open(fixture.coordinator.url, '127.0.0.6');
    for (const socket of [...live, other]) socket.close();
    assert.equal(await refusals('connection', 'limits.connections_per_address'), 10);
  });

  it('refuses handshake initiations over the per-address rate', async () => {
    const coordinatorKey = decodeKey(fixture.workspace.keys.coordinatorPublicKey);
    const outcomes: string[] = [];
    for (let i = 0; i < HANDSHAKE_BURST + 3; i += 1) {
      const peer = await RawPeer.connect(fixture.coordinator.url, sodium, '127.0.0.4');
      const keys = sodium.crypto_sign_keypair();
      const handshake = new SiteHandshake(
        sodium,
        { publicKey: keys.publicKey, privateKey: keys.privateKey },
        coordinatorKey,
      );
      outcomes.push(
        await peer
          .exchange(SOCKET_EVENTS.initiation, handshake.createInitiation(), SOCKET_EVENTS.response)
          .then(
            () => 'answered',
            (error: Error) => error.message,
          ),
      );
      peer.socket.disconnect();
    }
    assert.deepEqual(outcomes, [
      ...new Array<string>(HANDSHAKE_BURST).fill('answered'),
      ...new Array<string>(3).fill('refused: handshake.rate_limited'),
    ]);
    assert.equal(await refusals('handshake', 'handshake.rate_limited'), 3);
  });

  it('answers token-less API requests 401 or 429, counts them and samples them into the log', async () => {
    const auditBefore = auditSize();
    const statuses: number[] = [];
    for (let batch = 0; batch < 15; batch += 1) {
      statuses.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, () => request('GET', '/api/runs', '127.0.0.5')),
        )),
      );
    }
    const logins: number[] = [];
    for (let i = 0; i < SESSIONS_BURST + 2; i += 1) {
      logins.push(await request('POST', '/api/sessions', '127.0.0.7', '{"token":"not-a-token"}'));
    }
    const unauthorized = statuses.filter((s) => s === 401).length;
    const limited = statuses.filter((s) => s === 429).length;
    assert.equal(unauthorized, API_BURST);
    assert.equal(limited, 300 - API_BURST);
    assert.deepEqual(logins, [401, 401, 401, 429, 429]);
    assert.equal(await refusals('api', 'auth.missing_token'), API_BURST);
    assert.equal(await refusals('api', 'auth.bad_token'), SESSIONS_BURST);
    assert.equal(await refusals('api', 'api.rate_limited'), 300 - API_BURST + 2);

    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS * 3));
    const added = auditFrom(auditBefore);
    const sampled = added.filter((e) => e.event === 'unauthenticated.refused' && e.kind === 'api');
    assert.ok(added.length <= 8, `${added.length} audit entries for 305 refused requests`);
    assert.ok(!added.some((e) => e.event === 'operator.refused'));
    const count = (code: string): number =>
      sampled.filter((e) => e.code === code).reduce((n, e) => n + (e.count as number), 0);
    assert.equal(count('auth.missing_token'), API_BURST);
    assert.equal(count('auth.bad_token'), SESSIONS_BURST);
    assert.equal(count('api.rate_limited'), 300 - API_BURST + 2);
  });

  it('still runs the honest sites to the end of the run', async () => {
    const { report } = await fixture.runAllSites();
    assert.equal(report.rounds, 2);
  });
});
