import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSource, launchChromium } from '../../harness/chromium.js';
import { dashboardLoginUrl, issueToken } from '../../coordinator/api/tokens.js';
import { recommendedSchedule } from '../../coordinator/compression/pruning-schedule.js';
import { withCoordinatorStore } from '../../cli/coordinator-store.js';
import {
  decodeKey,
  loadSodium,
  publicKeyFileSchema,
  readJsonFile,
  unwrap,
  verifyAuditLog,
} from '../../protocol/index.js';
import { auditTrail, sitesReady } from '../support/coordinator-signals.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/** Screenshots of the run view land here (npm test runs from the repository root). */
const ARTIFACTS = path.resolve('test-artifacts', 'dashboard');
const ROUNDS = 6;

/** Reads the number of points a chart plots, from the attribute the page keeps on it. */
async function points(page: Page, chart: string): Promise<number> {
  return Number(await page.getAttribute(`[data-test="chart-${chart}"]`, 'data-points'));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  // A bounded poll of the page until it shows what the test waits for, never a guess at time.
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe(`the dashboard in a browser (${browserSource()} Chromium, playwright-core)`, () => {
  let fixture: RunFixture;
  let browser: Browser;
  /** Errors the pages logged (a CSP violation logs one), by page. */
  const pageErrors: string[] = [];

  const newPage = async (on: Browser = browser): Promise<Page> => {
    const context = await on.newContext({
      viewport: { width: 1280, height: 800 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // The refusals these tests provoke (401, 403) are logged by the browser itself.
      const refused = /Failed to load resource: .* status of 40[13]/.test(message.text());
      if (message.type() === 'error' && !refused) pageErrors.push(message.text());
    });
    return page;
  };

  /** A one-time dashboard link for an operator, as `fedistill token` prints it. */
  const operatorLink = (name: string): Promise<string> =>
    withCoordinatorStore(fixture.workspace.coordinatorConfigFile, (store) =>
      dashboardLoginUrl(store.tokens, fixture.coordinator.url, name),
    );

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    // Pruned as the demo prunes, so the sparsity chart has something to show.
    fixture = await startRunFixture({
      sites: 3,
      rounds: ROUNDS,
      adjust: (config) => ({
        ...config,
        run: {
          ...config.run!,
          compression: {
            pruning: { schedule: recommendedSchedule(ROUNDS, 0.5), structure: 'weights' },
          },
        },
      }),
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await fixture?.dispose();
  });

  it('refuses a bad token, from a link or typed in, and shows nothing of the runs', async () => {
    const page = await newPage();
    await page.goto(`${fixture.coordinator.url}/dashboard/?token=fdt_not-a-token`);
    const error = page.locator('[data-test="login-error"]');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.innerText(), /unknown, revoked, expired/);
    assert.ok(!page.url().includes('fdt_'), 'the token stays in the address bar');
    assert.equal(await page.locator('[data-test="runs"]').count(), 0);
    await page.fill('[data-test="login-token"]', 'fdt_still-not-a-token');
    await page.click('[data-test="login-submit"]');
    await until('the refusal is shown again', async () => /unknown/.test(await error.innerText()));
    assert.equal(await page.locator('[data-test="run-view"]').count(), 0);
    await page.context().close();
  });

  it('shows a live run to its operator: the charts gain a point per closed round; pause holds them, resume finishes', async () => {
    const link = await operatorLink('operator-on-call');
    const page = await newPage();
    await page.goto(link);
    await page.locator('[data-test="run-view"]').waitFor({ state: 'visible' });
    assert.ok(!page.url().includes('token='), 'the one-time token is taken out of the URL');
    assert.match(await page.innerText('[data-test="role"]'), /operator/);
    assert.equal(await points(page, 'accuracy'), 0);

    // Paused before any site is there: the sites join, but no round opens.
    await page.click('[data-test="pause"]');
    await until('the run shows paused', async () =>
      /paused/.test(await page.innerText('[data-test="run-header"]')),
    );
    const { events } = fixture.coordinator;
    const trail = auditTrail(events);
    const ready = sitesReady(events, fixture.workspace.siteNames);
    const finished = fixture.runAllSites();
    await until('every site is connected', async () =>
      /^3 \/ 3$/.test(await page.innerText('[data-test="sites-connected"]')),
    );
    // Every site is ready: a round would have opened by now had the pause not held it.
    await ready;
    assert.deepEqual(
      trail.filter((e) => e.event === 'round.started'),
      [],
      'a paused run opened a round',
    );
    assert.equal(await points(page, 'accuracy'), 0, 'a paused run plotted a round');
    await page.screenshot({ path: path.join(ARTIFACTS, 'run-view-paused.png'), fullPage: true });

    // Resumed, the rounds run; every point arrives over the live feed, a round at a time.
    await page.click('[data-test="resume"]');
    const seen = [0];
    await until('every round is plotted', async () => {
      const now = await points(page, 'accuracy');
      if (now !== seen[seen.length - 1]) seen.push(now);
      return now === ROUNDS;
    });
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'points only ever grow',
    );
    assert.ok(seen.length >= 3, `the points came all at once: ${seen.join(' -> ')}`);
    const { report } = await finished;
    for (const chart of ['loss', 'schedule', 'sparsity', 'bytes', 'duration']) {
      assert.equal(await points(page, chart), ROUNDS, `chart ${chart}`);
    }
    // Complete once its student is exported and its report stored, a moment after the last round.
    await page.locator('[data-test="run-item"][data-state="complete"]').waitFor();
    assert.equal(await page.innerText('[data-test="run-state"]'), 'complete');
    const timeline = page.locator('[data-test="timeline"]');
    assert.ok((await timeline.innerText()).length > 0);
    const sites = await page.innerText('[data-test="sites"]');
    for (const site of report.site_names) assert.ok(sites.includes(site), `${site} not listed`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'run-view.png'), fullPage: true });

    // The link opened one session; opened again, it is refused.
    const again = await newPage();
    await again.goto(link);
    await again.locator('[data-test="login-error"]').waitFor({ state: 'visible' });
    await again.context().close();
    await page.context().close();
  });

  it('gives an auditor the log, the verified tree heads and the export, and no operator controls', async () => {
    const auditor = await withCoordinatorStore(
      fixture.workspace.coordinatorConfigFile,
      async (store) =>
        (await issueToken(store.tokens, { name: 'auditor-1', role: 'auditor', kind: 'api' }))
          .secret,
    );
    const page = await newPage();
    await page.goto(`${fixture.coordinator.url}/dashboard/`);
    await page.fill('[data-test="login-token"]', auditor);
    await page.click('[data-test="login-submit"]');
    await page.locator('[data-test="tree-heads"]').waitFor({ state: 'visible' });
    assert.match(await page.innerText('[data-test="role"]'), /auditor/);
    const verdict = page.locator('[data-test="log-verdict"]');
    await until(
      'the log is checked',
      async () => (await verdict.getAttribute('data-verified')) !== null,
    );
    assert.equal(await verdict.getAttribute('data-verified'), 'true', await verdict.innerText());
    assert.match(await verdict.innerText(), /matches every signed tree head/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'audit-view.png'), fullPage: true });

    await page.fill('[data-test="audit-filter-event"]', 'round.');
    await page.click('[data-test="audit-apply"]');
    await until('the log shows only round events', async () => {
      const text = await page.innerText('[data-test="audit-log"]');
      return text.includes('round.started') && !text.includes('update.received');
    });

    const download = page.waitForEvent('download');
    await page.click('[data-test="export"]');
    const file = await (await download).path();
    const exported = JSON.parse(await readFile(file, 'utf8')) as unknown;
    const sodium = await loadSodium();
    const key = unwrap(
      await readJsonFile(
        path.join(fixture.workspace.dir, 'keys', 'coordinator.pub'),
        publicKeyFileSchema,
      ),
    ).publicKey;
    unwrap(verifyAuditLog(sodium, decodeKey(key), exported));

    // No control is on the auditor's page, in any tab, and the API refuses one sent by hand.
    await page.click('[data-test="tab-runs"]');
    await page.locator('[data-test="run-view"]').waitFor({ state: 'visible' });
    for (const control of ['controls', 'pause', 'resume', 'cancel']) {
      assert.equal(await page.locator(`[data-test="${control}"]`).count(), 0, control);
    }
    // Run in the page with the session token the page keeps. A function, not a string: the
    // page's CSP forbids eval, and the tests keep that CSP on.
    const status = await page.evaluate(async (runId) => {
      const page = globalThis as unknown as {
        sessionStorage: { getItem(key: string): string | null };
      };
      const saved = page.sessionStorage.getItem('fedistill.dashboard.session') ?? '{}';
      const { token } = JSON.parse(saved) as { token?: string };
      const response = await fetch(`/api/runs/${runId}/cancel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      return response.status;
    }, fixture.coordinator.runId!);
    assert.equal(status, 403);
    await page.context().close();
  });

  /**
   * Chromium under `LANG=C.UTF-8` reports `navigator.language` as `en-US@posix`, which `Intl`
   * refuses: uPlot threw as it loaded, and the dashboard's scripts with it (no run view, no charts).
   * The npm Chromium follows `LANG` (Debian's normalises it), so it plays this browser whichever
   * the other tests drive. It reads the run the live test above finished: a fixture of its own
   * would cost a run's time in each of the two browser passes of CI.
   */
  it('draws the charts, dates and numbers of a run under a browser locale Intl refuses', async () => {
    const odd = await launchChromium({ source: 'npm', lang: 'C.UTF-8' });
    try {
      const logged = pageErrors.length;
      const page = await newPage(odd);
      const reported = await page.evaluate<string>('navigator.language');
      assert.equal(reported, 'en-US@posix', 'the browser reports the tag Intl refuses');
      await page.goto(await operatorLink('operator-posix'));
      // Module scripts have run by the load event: one that threw has logged it by now.
      assert.deepEqual(pageErrors.slice(logged), [], 'the page threw as it loaded');
      const charts = ['accuracy', 'loss', 'schedule', 'sparsity', 'bytes', 'duration'];
      await until(
        'every chart draws every round',
        async () => {
          for (const chart of charts) {
            const canvas = page.locator(`[data-test="chart-${chart}"] .uplot canvas`);
            if ((await canvas.count()) !== 1 || (await points(page, chart)) !== ROUNDS)
              return false;
          }
          return true;
        },
        15_000,
      );
      assert.match(await page.innerText('[data-test="role"]'), /operator/);
      // Off the chart, a legend shows the last round's values, formatted by the page.
      const legend = (chart: string) =>
        page.locator(`[data-test="chart-${chart}"] .u-series .u-value`).allInnerTexts();
      assert.match((await legend('accuracy'))[1] ?? '', /^\d+\.\d%$/);
      assert.match((await legend('bytes'))[1] ?? '', /^\d+(\.\d+)? (B|kB|MB)$/);
      // Dates through Intl.DateTimeFormat(undefined, ...), which Chromium resolves to en-US here.
      assert.match(
        await page.innerText('[data-test="run-header"]'),
        /created \d{2}\/\d{2}\/\d{4}, \d{2}:\d{2}:\d{2} · updated \d{2}\//,
      );
      assert.match(await page.innerText('[data-test="accuracy"]'), /^\d+\.\d{2}%$/);
      // Listed once sorted by site through Intl.Collator(undefined, ...).
      const sites = await page.innerText('[data-test="sites"]');
      for (const site of fixture.workspace.siteNames) assert.ok(sites.includes(site), site);
      assert.deepEqual(pageErrors.slice(logged), []);
    } finally {
      await odd.close();
    }
  });

  it('logs no script error and no policy violation on any page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
