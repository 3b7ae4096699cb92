import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { issueToken } from '../../coordinator/api/tokens.js';
import { withCoordinatorStore } from '../../cli/coordinator-store.js';
import {
  FEED_EVENTS,
  feedAckSchema,
  feedHelloSchema,
  OPERATOR_NAMESPACE,
  runDeltaSchema,
  runListItemSchema,
  runSnapshotSchema,
  type FeedAck,
  type FeedHello,
  type RunDelta,
  type RunListItem,
  type RunSnapshot,
} from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

const ROUNDS = 3;

/** A token written to the coordinator's store, as the CLI writes one. */
async function token(fixture: RunFixture, role: 'operator' | 'auditor'): Promise<string> {
  return withCoordinatorStore(
    fixture.workspace.coordinatorConfigFile,
    async (store) => (await issueToken(store.tokens, { name: role, role, kind: 'api' })).secret,
  );
}

function connect(fixture: RunFixture, auth: Record<string, unknown>): Socket {
  return io(`${fixture.coordinator.url}${OPERATOR_NAMESPACE}`, {
    transports: ['websocket'],
    auth,
    reconnection: false,
  });
}

describe('the operator feed (socket.io namespace /operator)', () => {
  let fixture: RunFixture;

  before(async () => {
    fixture = await startRunFixture({ sites: 2, rounds: ROUNDS });
  });

  after(async () => {
    await fixture.dispose();
  });

  it('refuses a missing or unknown token at the handshake', async () => {
    for (const auth of [{}, { token: 'fdt_not-a-token' }, { token: 42 }]) {
      const socket = connect(fixture, auth);
      const error = await new Promise<Error>((resolve, reject) => {
        socket.on('connect_error', resolve);
        socket.on(FEED_EVENTS.hello, () => reject(new Error('a bad token was let in')));
      });
      socket.close();
      assert.match(error.message, /^auth\.bad_token/);
    }
  });

  it("streams a run's view: a snapshot, then each closed round as a point, with no private data", async () => {
    const socket = connect(fixture, { token: await token(fixture, 'auditor') });
    const hello = await new Promise<FeedHello>((resolve) =>
      socket.once(FEED_EVENTS.hello, resolve),
    );
    assert.deepEqual(feedHelloSchema.parse(hello), { role: 'auditor', name: 'auditor' });
    const runs = await new Promise<RunListItem[]>((resolve) =>
      socket.once(FEED_EVENTS.runs, resolve),
    );
    runListItemSchema.array().parse(runs);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.id, fixture.coordinator.runId);

    const unknown = await socket.emitWithAck(FEED_EVENTS.subscribe, 'no-such-run');
    assert.deepEqual(unknown, { ok: false, message: 'no run no-such-run' });
    const snapshot = new Promise<RunSnapshot>((resolve) =>
      socket.once(FEED_EVENTS.snapshot, resolve),
    );
    const ack = (await socket.emitWithAck(FEED_EVENTS.subscribe, runs[0]!.id)) as FeedAck;
    assert.deepEqual(feedAckSchema.parse(ack), { ok: true });
    const view = runSnapshotSchema.parse(await snapshot);
    assert.equal(view.points.length, 0);
    assert.equal(view.run.state, 'waiting-for-sites');
    assert.deepEqual(view.run.controls, { pause: true, resume: false, cancel: true });
    assert.deepEqual(
      view.sites.map((s) => [s.site, s.state]),
      [
        ['site-1', 'offline'],
        ['site-2', 'offline'],
      ],
    );

    const deltas: RunDelta[] = [];
    // The feed pushes at most four times a second; the push that shows the run complete is
    // the last one the run's rounds can cause.
    const completed = new Promise<void>((resolve) =>
      socket.on(FEED_EVENTS.delta, (delta: RunDelta) => {
        deltas.push(delta);
        if (delta.run.state === 'complete') resolve();
      }),
    );
    const { report } = await fixture.runAllSites();
    await completed;
    socket.close();

    const points = deltas.flatMap((d) => d.points);
    assert.deepEqual(
      points.map((p) => p.round),
      [1, 2, 3],
    );
    for (const [i, point] of points.entries()) {
      const round = report.per_round[i]!;
      assert.equal(point.accuracy, round.student_accuracy);
      assert.equal(point.loss, round.student_loss);
      assert.equal(point.temperature, round.temperature);
      assert.ok(point.loss > 0 && point.bytesUp > 0 && point.bytesDown > 0);
      assert.ok(point.durationSeconds > 0);
    }
    // Every push has the shape the dashboard is compiled against.
    for (const delta of deltas) runDeltaSchema.parse(delta);
    const last = deltas[deltas.length - 1]!;
    assert.equal(last.run.state, 'complete');
    assert.equal(last.run.active, false);
    assert.deepEqual(last.run.controls, { pause: false, resume: false, cancel: false });
    const timeline = new Map(
      deltas.flatMap((d) => d.timeline).map((e) => [`${e.round}:${e.attempt}`, e]),
    );
    assert.deepEqual(
      [...timeline.values()].map((e) => [e.round, e.state, e.selected, e.answered]),
      [
        [1, 'closed', 2, 2],
        [2, 'closed', 2, 2],
        [3, 'closed', 2, 2],
      ],
    );
    const sites = new Map(deltas.flatMap((d) => d.sites).map((s) => [s.site, s]));
    assert.equal(sites.get('site-1')!.lastRound, ROUNDS);
    assert.ok(
      sites.get('site-1')!.bytesUp > 0 && sites.get('site-1')!.backend,
      JSON.stringify([...sites.values()]),
    );
    // What a dashboard sees holds no example counts (the sites' private data sizes).
    const text = JSON.stringify(deltas);
    assert.ok(!/numExamples|num_examples|examples/i.test(text));
  });
});
