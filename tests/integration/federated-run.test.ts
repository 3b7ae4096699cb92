import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runSite, type SiteRunSummary } from '../../client/site-client.js';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import { startCoordinator } from '../../coordinator/coordinator.js';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { SITE_MESSAGE_TYPES, SOCKET_EVENTS } from '../../protocol/index.js';
import { aggregationConfigSchema } from '../../coordinator/aggregation/strategy-config.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

const HANDSHAKE_KINDS: readonly string[] = [
  SOCKET_EVENTS.initiation,
  SOCKET_EVENTS.finish,
  SOCKET_EVENTS.streamHeader,
];

describe('a federated run: real coordinator and 3 real sites on loopback, 2 rounds', () => {
  let fixture: RunFixture;
  let report: RunReport;
  let sites: SiteRunSummary[];

  before(async () => {
    // 1 KiB chunks split the 14.6 KB transfer set into 15 chunks, two request windows.
    fixture = await startRunFixture({
      sites: 3,
      rounds: 2,
      blobChunkBytes: 1024,
      // A scraper without a token (tests/hostile/at-rest.test.ts proves the token is needed).
      adjust: (config) => ({ ...config, metrics: { public: true } }),
    });
    ({ sites, report } = await fixture.runAllSites());
  });

  after(async () => {
    await fixture?.dispose();
  });

  it("the student's held-out accuracy beats the majority-class rate", () => {
    assert.ok(
      report.student_accuracy > report.majority_class_rate,
      `student ${report.student_accuracy} vs majority ${report.majority_class_rate}`,
    );
  });

  it('every site trained both rounds, and each round folded all three updates', () => {
    assert.deepEqual(
      sites.map((s) => s.roundsTrained),
      [2, 2, 2],
    );
    assert.deepEqual(
      report.per_round.map((r) => [r.round, r.participants]),
      [
        [1, 3],
        [2, 3],
      ],
    );
    assert.equal(report.per_round[0]!.temperature, 5);
    assert.equal(report.per_round[1]!.temperature, 1);
  });

  it('every message a site sent, as decoded by the coordinator, is an allowed protocol message', () => {
    const fromSites = fixture.protocolEvents.filter((e) => e.direction === 'in');
    assert.ok(fromSites.length > 0);
    for (const event of fromSites) {
      assert.equal(event.outcome, 'ok', `${event.peer} ${event.kind}: ${event.code}`);
      assert.ok(
        HANDSHAKE_KINDS.includes(event.kind) || SITE_MESSAGE_TYPES.includes(event.kind),
        `unexpected ${event.kind}`,
      );
    }
    const kinds = new Set(fromSites.map((e) => e.kind));
    // Every type a plain run uses (the secagg.* ones belong to securely aggregated runs).
    for (const type of SITE_MESSAGE_TYPES.filter((t) => !t.startsWith('secagg.'))) {
      assert.ok(kinds.has(type), `no ${type} was seen`);
    }
    assert.ok(![...kinds].some((kind) => kind.startsWith('secagg.')));
    // Per site: the transfer set (15 chunks, windows of 8: 2 requests) and the model of each
    // round (2 chunks: 1 request).
    assert.equal(fromSites.filter((e) => e.kind === 'blob.request').length, 3 * (2 + 2));
    assert.equal(fromSites.filter((e) => e.kind === 'round.update').length, 6);
  });

  it('the report counts the bytes moved and names the backends', () => {
    // The report is written when the last round closes, before the sites' farewells arrive.
    const upBeforeReport = fixture.protocolEvents
      .filter((e) => e.direction === 'in' && e.kind !== 'site.leave')
      .reduce((n, e) => n + e.bytes, 0);
    assert.equal(report.bytes_up, upBeforeReport);
    assert.ok(report.bytes_down > report.bytes_up, 'the transfer set and models flow down');
    assert.deepEqual(report.site_names, ['site-1', 'site-2', 'site-3']);
    assert.deepEqual(new Set(Object.values(report.site_backends)), new Set(['wasm']));
    assert.equal(report.backend, 'wasm');
    assert.equal(report.student_params, 30 * 8 + 8 + 8 * 2 + 2);
  });

  it('serves Prometheus metrics: rounds, bytes, sites, the student accuracy', async () => {
    const response = await fetch(`${fixture.coordinator.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    const value = (metric: string): number =>
      Number(new RegExp(`^${metric} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.equal(value('fedistill_rounds_total'), 2);
    assert.equal(value('fedistill_round_duration_seconds_count'), 2);
    assert.equal(value('fedistill_student_accuracy'), report.student_accuracy);
    assert.ok(value('fedistill_bytes_total{direction="in"}') >= report.bytes_up);
    assert.ok(value('fedistill_bytes_total{direction="out"}') >= report.bytes_down);
    assert.match(text, /^fedistill_sites_connected \d+$/m);
  });

  it("a second run reuses the cached teacher and the site's cached, re-verified transfer set", async () => {
    const config = await loadCoordinatorConfig(fixture.workspace.coordinatorConfigFile);
    const second = await startCoordinator(
      {
        ...config,
        listen: { ...config.listen, port: 0 },
        run: { ...config.run!, rounds: 1, minSites: 1 },
      },
      { logLevels: false },
    );
    try {
      const kinds: string[] = [];
      second.events.on('protocol', (e) => e.direction === 'in' && kinds.push(e.kind));
      const siteConfig = await fixture.siteConfig('site-1');
      const [site, secondReport] = await Promise.all([
        runSite({ ...siteConfig, coordinator: { ...siteConfig.coordinator, url: second.url } }),
        second.finished,
      ]);
      assert.equal(secondReport.teacher_cached, true);
      assert.equal(secondReport.teacher_accuracy, report.teacher_accuracy);
      assert.equal(report.teacher_cached, false);
      assert.equal(site.transferFromCache, true);
      // One request, for the round's model: the transfer set was not fetched again.
      assert.equal(kinds.filter((k) => k === 'blob.request').length, 1);
      assert.ok(kinds.includes('round.update'));
    } finally {
      await second.close();
    }
  });
});

describe('a federated run with compressed, clipped updates (int8 per channel, then top-k with error feedback)', () => {
  for (const encoding of ['int8-channel', 'topk'] as const) {
    it(`${encoding}: every update is folded and the student beats the majority-class rate`, async () => {
      const fixture = await startRunFixture({
        sites: 3,
        rounds: 3,
        adjust: (config) => ({
          ...config,
          run: { ...config.run!, updateEncoding: encoding, topkFraction: 0.5, clipNorm: 5 },
        }),
      });
      try {
        const { report } = await fixture.runAllSites();
        assert.deepEqual(
          report.per_round.map((r) => r.participants),
          [3, 3, 3],
        );
        assert.ok(
          report.student_accuracy > report.majority_class_rate,
          `${report.student_accuracy}`,
        );
      } finally {
        await fixture.dispose();
      }
    });
  }
});

describe('the other distillation modes, end to end', () => {
  const cases = [
    {
      name: 'class-logits (no transfer set: per-class mean teacher logits)',
      distillation: { mode: 'class-logits' as const },
    },
    {
      name: 'transfer set with hidden-state distillation (hidden_1 projected onto the teacher features)',
      distillation: {
        mode: 'transfer-set' as const,
        hiddenState: { studentLayer: 'hidden_1', weight: 0.5 },
      },
    },
  ];
  for (const { name, distillation } of cases) {
    it(`${name}: the student beats the majority-class rate`, async () => {
      const fixture = await startRunFixture({
        sites: 3,
        rounds: 3,
        adjust: (config) => ({ ...config, run: { ...config.run!, distillation } }),
      });
      const welcomes: string[] = [];
      fixture.coordinator.events.on(
        'protocol',
        (e) => e.direction === 'out' && e.kind === 'run.welcome' && welcomes.push(e.kind),
      );
      try {
        const { sites: sites, report } = await fixture.runAllSites();
        assert.deepEqual(
          sites.map((s) => s.roundsTrained),
          [3, 3, 3],
        );
        assert.equal(welcomes.length, 3);
        assert.ok(
          report.student_accuracy > report.majority_class_rate,
          `${report.student_accuracy}`,
        );
      } finally {
        await fixture.dispose();
      }
    });
  }
});

describe('quantization-aware training in the final rounds', () => {
  it('the last two of three rounds ask for fake-quantized kernels; the student beats the majority-class rate', async () => {
    const fixture = await startRunFixture({
      sites: 3,
      rounds: 3,
      adjust: (config) => ({
        ...config,
        run: {
          ...config.run!,
          compression: { quantizationAware: { finalRounds: 2, scheme: 'int8' } },
        },
      }),
    });
    // What each site was asked, as its own log says.
    const lines: string[] = [];
    try {
      const { report } = await fixture.runAllSites(undefined, (line) => lines.push(line));
      const trained = lines.filter((l) => / round \d trained /.test(l));
      assert.equal(trained.length, 9);
      for (const line of trained) {
        const round = Number(/ round (\d) /.exec(line)![1]);
        assert.equal(line.includes('kernels fake-quantized int8'), round >= 2, line);
      }
      assert.ok(report.student_accuracy > report.majority_class_rate, `${report.student_accuracy}`);
    } finally {
      await fixture.dispose();
    }
  });
});

describe('sites that train on two worker threads each', () => {
  it('every round folds all updates and the student beats the majority-class rate', async () => {
    const fixture = await startRunFixture({ sites: 2, rounds: 3 });
    try {
      const lines: string[] = [];
      const { sites, report } = await fixture.runAllSites(
        (c) => ({ ...c, parallelism: { workers: 2 } }),
        (line) => lines.push(line),
      );
      assert.deepEqual(
        sites.map((s) => s.roundsTrained),
        [3, 3],
      );
      assert.equal(lines.filter((l) => l.includes('training on 2 worker threads')).length, 2);
      assert.deepEqual(
        report.per_round.map((r) => r.participants),
        [2, 2, 2],
      );
      assert.ok(report.student_accuracy > report.majority_class_rate, `${report.student_accuracy}`);
    } finally {
      await fixture.dispose();
    }
  });
});

describe('the aggregation strategy comes from the run config', () => {
  for (const aggregation of [
    // With 3 sites beta 0.34 trims one update from each end of every coordinate.
    { strategy: 'trimmed-mean', beta: 0.34 },
    { strategy: 'fedadam' },
  ] as const) {
    it(`${aggregation.strategy}: the run completes with it and reports it`, async () => {
      const fixture = await startRunFixture({
        sites: 3,
        rounds: 2,
        adjust: (config) => ({
          ...config,
          run: { ...config.run!, aggregation: aggregationConfigSchema.parse(aggregation) },
        }),
      });
      try {
        const { report } = await fixture.runAllSites();
        assert.equal(report.aggregation, aggregation.strategy);
        assert.deepEqual(
          report.per_round.map((r) => r.participants),
          [3, 3],
        );
      } finally {
        await fixture.dispose();
      }
    });
  }
});

describe('participation by fraction', () => {
  it('half of three ready sites: two are chosen (seeded) each round, the third waits and still completes', async () => {
    const fixture = await startRunFixture({
      sites: 3,
      rounds: 3,
      adjust: (config) => ({
        ...config,
        run: { ...config.run!, minSites: 1, participationFraction: 0.5 },
      }),
    });
    try {
      const { sites, report } = await fixture.runAllSites();
      assert.ok(
        report.per_round.every((r) => r.participants >= 1 && r.participants <= 2),
        JSON.stringify(report.per_round),
      );
      assert.equal(
        sites.reduce((n, s) => n + s.roundsTrained, 0),
        report.per_round.reduce((n, r) => n + r.participants, 0),
      );
      assert.ok(sites.every((s) => s.runId === report.run_id));
    } finally {
      await fixture.dispose();
    }
  });
});
