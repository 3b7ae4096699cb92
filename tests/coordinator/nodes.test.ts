import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { EdgeFolds } from '../../coordinator/nodes/edge-folds.js';
import { EdgeRelay } from '../../coordinator/nodes/edge-relay.js';
import { EdgeSessions } from '../../coordinator/nodes/edge-sessions.js';
import { NodeBus, type Envelope } from '../../coordinator/nodes/node-bus.js';
import type { SiteSessionHost } from '../../coordinator/gateway/site-session-host.js';
import type { SiteChannel } from '../../coordinator/runs/site-channel.js';
import type { CoordinatorSetup } from '../../coordinator/coordinator-setup.js';
import { TransferService } from '../../coordinator/transfer/transfer.service.js';
import { openPostgresStore } from '../../coordinator/store/postgres/open-postgres-store.js';
import { startPostgres, type TestPostgres } from '../../harness/embedded-postgres.js';
import { loadSodium, ok, type CoordinatorMessage, type ErrorCode } from '../../protocol/index.js';

/** A store that holds no blobs: the relay relays every pull. */
const noBlobs = (): Promise<Uint8Array> => Promise.reject(new Error('no blobs here'));
/** These tests announce no attempt, so nothing is folded or staged at the edge. */
const noFolds = new EdgeFolds(noBlobs, {
  stage: () => Promise.reject(new Error('nothing is staged here')),
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds, or fails after `ms`. */
async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

/** A session as a gateway would hand it over, recording what it was told. */
class RecordingChannel implements SiteChannel {
  readonly sent: CoordinatorMessage[] = [];
  refused: ErrorCode | undefined;
  private readonly listeners: (() => void)[] = [];
  constructor(readonly site: string) {}
  send(message: CoordinatorMessage): void {
    this.sent.push(message);
  }
  refuse(code: ErrorCode): void {
    this.refused = code;
    for (const listener of this.listeners.splice(0)) listener();
  }
  backlogged(): boolean {
    return false;
  }
  onDrain(resume: () => void): void {
    resume();
  }
  onClose(closed: () => void): void {
    this.listeners.push(closed);
  }
}

const complete: CoordinatorMessage = { type: 'run.complete', runId: 'r', rounds: 3 };

describe('coordinator nodes on one PostgreSQL server', () => {
  let server: TestPostgres;
  let url: string;
  const buses: NodeBus[] = [];
  const open = async (node: string): Promise<NodeBus> => {
    const bus = await NodeBus.open(url, node);
    buses.push(bus);
    return bus;
  };

  let transfer: TransferService;

  before(async () => {
    // An edge's transfer service needs only the sodium of the setup.
    transfer = new TransferService({ sodium: await loadSodium() } as CoordinatorSetup);
    server = await startPostgres();
    url = await server.createDatabase();
    // The store's migrations create the bus's table.
    await (await openPostgresStore({ sodium: await loadSodium(), url })).close();
  });
  after(async () => {
    for (const bus of buses) await bus.close();
    await server.stop();
  });

  it('the bus delivers one sender’s messages in order, whole (past NOTIFY’s 8,000 bytes), and keeps those sent before the recipient listens', async () => {
    const a = await open('a');
    const bodies = Array.from({ length: 1_500 }, (_, i) => Uint8Array.of(i % 256, i >> 8));
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    // Sent before b exists: the rows wait in the table.
    for (const body of bodies.slice(0, 500)) a.send('b', { t: 'site', session: 's', body });
    await new Promise<void>((resolve) => a.onFlushed(resolve));
    const b = await open('b');
    const received: Envelope[] = [];
    b.onMessage((from, envelope) => {
      assert.equal(from, 'a');
      received.push(envelope);
    });
    for (const body of bodies.slice(500)) a.send('b', { t: 'site', session: 's', body });
    a.send('b', { t: 'site', session: 'big', body: big });
    await until(() => received.length === bodies.length + 1);
    assert.deepEqual(
      received.slice(0, -1).map((e) => (e.t === 'site' ? [...e.body] : [])),
      bodies.map((body) => [...body]),
    );
    const last = received.at(-1)!;
    assert.ok(last.t === 'site' && Buffer.from(last.body).equals(Buffer.from(big)));
    const [{ n } = { n: '1' }] = await server.query<{ n: string }>(
      url,
      'SELECT COUNT(*) AS n FROM node_messages',
    );
    assert.equal(Number(n), 0, 'taken messages are deleted');
  });

  it('a row that is not an envelope is dropped, and the messages after it still arrive', async () => {
    const a = await open('a2');
    const c = await open('c');
    const received: Envelope[] = [];
    c.onMessage((_, envelope) => received.push(envelope));
    await server.query(
      url,
      `INSERT INTO node_messages (to_node, from_node, body) VALUES ('c', 'x', $1)`,
      [Buffer.from(encode({ t: 'send', session: 's' }))],
    );
    a.send('c', { t: 'beat' });
    await until(() => received.length === 1);
    assert.deepEqual(received, [{ t: 'beat' }]);
  });

  it('relays a session from an edge to the leader’s runs and back, and ends the sessions of an edge that falls silent', async () => {
    const leaderBus = await open('leader');
    const edgeBus = await open('edge');
    const joined: SiteChannel[] = [];
    const handled: string[] = [];
    const left: string[] = [];
    const host: SiteSessionHost = {
      siteJoined: (channel) => {
        joined.push(channel);
        return ok(undefined);
      },
      handle: (channel, message) => {
        handled.push(`${channel.site}:${message.type}`);
        return ok(true);
      },
      siteLeft: (channel) => left.push(channel.site),
    };
    const sessions = new EdgeSessions(leaderBus, host, 600);
    const relay = new EdgeRelay(
      edgeBus,
      transfer,
      noFolds,
      noBlobs,
      () => Promise.resolve('leader'),
      100,
    );
    try {
      const site = new RecordingChannel('site-1');
      await until(() => relay.leader === 'leader');
      assert.deepEqual(relay.siteJoined(site), ok(undefined));
      await until(() => joined.length === 1);
      assert.equal(joined[0]!.site, 'site-1');
      // What the leader's runs send reaches the edge's session, parsed again there.
      joined[0]!.send(complete);
      await until(() => site.sent.length === 1);
      assert.deepEqual(site.sent, [complete]);
      relay.handle(site, { type: 'site.leave', reason: 'run.complete' });
      await until(() => handled.length === 1);
      assert.deepEqual(handled, ['site-1:site.leave']);
      assert.deepEqual(left, ['site-1'], 'a site.leave ends the session on the leader');

      const second = new RecordingChannel('site-2');
      relay.siteJoined(second);
      await until(() => joined.length === 2);
      // The edge stops beating (it died): its sessions end once the leader has not heard from it.
      relay.close();
      await until(() => left.includes('site-2'), 5_000);
    } finally {
      sessions.close();
      relay.close();
    }
  });

  it('an edge closes the sessions it held for a leader that lost the lease, so the sites join the next', async () => {
    const edgeBus = await open('edge-2');
    let leader = 'old';
    const relay = new EdgeRelay(
      edgeBus,
      transfer,
      noFolds,
      noBlobs,
      () => Promise.resolve(leader),
      50,
    );
    try {
      await until(() => relay.leader === 'old');
      const site = new RecordingChannel('site-3');
      relay.siteJoined(site);
      leader = 'new';
      await until(() => site.refused !== undefined);
      assert.equal(site.refused, 'session.closed');
    } finally {
      relay.close();
    }
  });
});
