import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { chromium } from 'playwright-core';
import { prepareWorkspace } from '../cli/demo/workspace.js';
import { dashboardLoginUrl } from '../coordinator/api/tokens.js';
import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import { startCoordinator } from '../coordinator/coordinator.js';
import { buildRunView, diffRunView } from '../coordinator/dashboard/run-view.js';
import type { RoundSummary } from '../coordinator/runs/run-report.js';
import { runSpecSchema } from '../coordinator/runs/run-spec.js';
import type { RunStatus } from '../coordinator/runs/runs.service.js';
import { openSqliteStore } from '../coordinator/store/sqlite/open-sqlite-store.js';
import { loadSodium } from '../protocol/index.js';
import { recordResults, round } from './results.js';

/**
 * The dashboard at the scale the issue names: 1,000 sites and 500 closed rounds, each with
 * every site's update. The history is synthetic (written straight into the store's tables in
 * one transaction; no federation ran), the coordinator, its feed and the page are the real
 * ones. Prints the server's cost of one view (built on every push, at most 4 a second) and
 * the browser's time from opening the login link to 500 points and the site table drawn.
 */
const SITES = 1000;
const ROUNDS = 500;

const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-dashboard-bench-'));
const workspace = await prepareWorkspace(dir, {
  sites: 2,
  rounds: 2,
  seed: 1,
  cacheDir: path.join(dir, 'cache'),
});
const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
const names = Array.from({ length: SITES }, (_, i) => `site-${String(i + 1).padStart(4, '0')}`);

// The schema comes from the store itself; the history is bulk-inserted under it.
const seeded = performance.now();
await openSqliteStore({ sodium: await loadSodium(), file: config.storeFile }).close();
const db = new Database(config.storeFile);
const spec = runSpecSchema.parse({ id: 'scale', rounds: ROUNDS, minSites: 100 });
db.transaction(() => {
  const at = new Date().toISOString();
  db.prepare(`INSERT INTO runs VALUES ('scale', 'h', ?, 'complete', NULL, ?, 0, ?, ?, ?, ?)`).run(
    JSON.stringify(spec),
    ROUNDS + 1,
    ROUNDS,
    ROUNDS,
    at,
    at,
  );
  const site = db.prepare(`INSERT INTO sites VALUES (?, ?, 'enrolled', ?, ?, NULL)`);
  for (const name of names) site.run(name, randomBytes(32).toString('base64'), at, at);
  const round = db.prepare(`INSERT INTO rounds VALUES ('scale', ?, 0, 'closed', ?, ?, ?, ?)`);
  const update = db.prepare(
    `INSERT INTO updates VALUES ('scale', ?, 0, ?, ?, 100, 'hash', 4000, NULL, ?)`,
  );
  const participants = JSON.stringify(names);
  for (let r = 1; r <= ROUNDS; r++) {
    const summary: RoundSummary = {
      round: r,
      rounds: ROUNDS,
      attempt: 1,
      temperature: 4 - (3 * r) / ROUNDS,
      alpha: 0.5,
      selected: SITES,
      participants: SITES,
      stragglers: 0,
      dropped: 0,
      student_accuracy: 0.5 + (0.45 * r) / ROUNDS,
      student_loss: 0.7 - (0.5 * r) / ROUNDS,
      sparsity: Math.min(0.5, r / ROUNDS),
      bytes_up: 4_000_000,
      bytes_down: 40_000_000,
      duration_seconds: 12,
    };
    round.run(r, participants, JSON.stringify(summary), at, at);
    names.forEach((name, i) => update.run(r, name, i, at));
  }
})();
db.close();
const seededS = (performance.now() - seeded) / 1000;
console.log(
  `seeded ${SITES} sites x ${ROUNDS} rounds (${SITES * ROUNDS} update rows) in ${seededS.toFixed(1)} s`,
);

// The server's view, as each push builds it.
const store = openSqliteStore({ sodium: await loadSodium(), file: config.storeFile });
const status: RunStatus = {
  id: 'scale',
  state: 'complete',
  spec,
  createdAt: '',
  updatedAt: '',
  roundsClosed: ROUNDS,
  modelVersion: ROUNDS,
};
// DashboardService reads each site's last round in full once per run, then only the rounds
// closed since its last look: here, one round.
const lastRounds = await store.updates.lastRoundBySite({ runId: 'scale' });
const view = async () => {
  for (const [site, round] of await store.updates.lastRoundBySite({
    runId: 'scale',
    afterRound: ROUNDS - 1,
  })) {
    lastRounds.set(site, round);
  }
  return buildRunView({
    status,
    dataset: config.data.name,
    closedRounds: await store.runs.closedRounds('scale'),
    attempts: await store.runs.roundAttempts('scale'),
    registry: await store.sites.list(),
    lastRounds,
    bytes: new Map(),
    backends: new Map(),
  });
};
const time = async (f: () => Promise<unknown>, n = 10): Promise<number> => {
  await f();
  const start = performance.now();
  for (let i = 0; i < n; i++) await f();
  return (performance.now() - start) / n;
};
const snapshot = await view();
const figures: Record<string, number> = {
  sites: SITES,
  rounds: ROUNDS,
  seed_history_s: round(seededS, 1),
  server_view_ms: round(await time(view), 1),
  server_last_rounds_full_ms: round(
    await time(() => store.updates.lastRoundBySite({ runId: 'scale' }), 3),
    1,
  ),
  server_diff_ms: round(await time(async () => diffRunView(snapshot, await view())), 1),
  snapshot_kib: round(JSON.stringify(snapshot).length / 1024),
};
console.log(
  `server: one run view, as each push builds it  ${figures.server_view_ms!.toFixed(1)} ms`,
);
console.log(
  `server: each site's last round, read in full once per run  ${figures.server_last_rounds_full_ms!.toFixed(1)} ms`,
);
console.log(`server: diff of two views  ${figures.server_diff_ms!.toFixed(1)} ms`);
console.log(`snapshot JSON  ${figures.snapshot_kib!.toFixed(0)} KiB`);
const link = await dashboardLoginUrl(store.tokens, '', 'bench');
await store.close();

// The browser: the real coordinator serves the page and the feed.
const coordinator = await startCoordinator({ ...config, run: undefined }, { logLevels: false });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const opened = performance.now();
  await page.goto(`${coordinator.url}${link}`);
  const siteRows = page.locator('[data-test="sites"] tbody tr[data-site]');
  await page
    .locator(`[data-test="chart-accuracy"][data-points="${ROUNDS}"]`)
    .waitFor({ timeout: 60_000 });
  await siteRows.first().waitFor();
  figures.browser_login_to_drawn_ms = round(performance.now() - opened);
  console.log(
    `browser: login link to ${ROUNDS} points on every chart and the site table  ${figures.browser_login_to_drawn_ms.toFixed(0)} ms`,
  );
  // A function, not a string: the page's CSP forbids eval. No DOM types here, hence the cast.
  const nodes = await page.evaluate(
    () =>
      (
        globalThis as unknown as {
          document: { getElementsByTagName(t: string): ArrayLike<unknown> };
        }
      ).document.getElementsByTagName('*').length,
  );
  const metrics = {
    nodes,
    rows: await siteRows.count(),
    cells: await page.locator('[data-test="timeline"] [data-round]').count(),
  };
  console.log(
    `browser: ${metrics.nodes} DOM elements (site rows on the page ${metrics.rows}, timeline cells ${metrics.cells})`,
  );
  const filtered = performance.now();
  await page.fill('[data-test="sites-filter"]', 'site-09');
  await page
    .locator('[data-test="sites"] tbody tr[data-site]:not([data-site^="site-09"])')
    .first()
    .waitFor({ state: 'detached', timeout: 10_000 });
  figures.browser_filter_ms = round(performance.now() - filtered);
  console.log(
    `browser: filter ${SITES} sites to 100, first page drawn  ${figures.browser_filter_ms.toFixed(0)} ms`,
  );
  Object.assign(figures, {
    browser_dom_elements: metrics.nodes,
    browser_site_rows: metrics.rows,
    browser_timeline_cells: metrics.cells,
  });
  await recordResults('dashboard', figures);
} finally {
  await browser.close();
  await coordinator.close();
  await rm(dir, { recursive: true, force: true });
}
