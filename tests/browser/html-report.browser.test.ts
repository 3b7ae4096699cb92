import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSource, launchChromium } from '../../harness/chromium.js';
import { renderHtmlReport } from '../../cli/demo/html-report.js';
import { demoReportFixture, unlabelledReportFixture } from '../support/demo-report.js';

/** A screenshot of the report lands here (npm test runs from the repository root). */
const ARTIFACTS = path.resolve('test-artifacts', 'html-report');
/** A site name that would add a bold element if it reached the page unescaped. */
const HOSTILE = '</script><b>bold</b>';

describe(`the demo HTML report in a browser (${browserSource()} Chromium, playwright-core)`, () => {
  const report = demoReportFixture([HOSTILE, 'northgate', 'riverside']);
  let dir: string;
  let browser: Browser;
  let page: Page;
  let fileUrl: string;
  /** Every request the page made, the file itself included. */
  const requests: string[] = [];
  /** Script errors and console errors (a CSP violation logs one). */
  const pageErrors: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-html-report-'));
    const file = path.join(dir, 'report.html');
    await writeFile(file, await renderHtmlReport(report));
    fileUrl = pathToFileURL(file).href;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Anything but the file is refused, so a request the page should not make cannot succeed.
    await context.route('**/*', (route) =>
      route.request().url() === fileUrl ? route.continue() : route.abort(),
    );
    page = await context.newPage();
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(fileUrl, { waitUntil: 'load' });
  });

  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('draws the two uPlot charts and the teacher-student SVG', async () => {
    await page.locator('.uplot').nth(1).waitFor();
    assert.equal(await page.locator('.uplot').count(), 2);
    for (const chart of ['accuracy', 'bytes']) {
      const section = page.locator(`[data-test="chart-${chart}"]`);
      assert.equal(await section.locator('.uplot canvas').count(), 1, chart);
      assert.equal(await section.getAttribute('data-points'), String(report.per_round.length));
      const box = await section.locator('.uplot canvas').boundingBox();
      assert.ok(box && box.width > 300 && box.height > 100, `${chart} canvas ${box?.width}`);
    }
    /** A chart's legend, a line per series: its label, then its value. */
    const legend = async (chart: string) => {
      const series = page.locator(`[data-test="chart-${chart}"] .u-series`);
      const values = await series.locator('.u-value').allInnerTexts();
      const labels = await series.locator('.u-label').allInnerTexts();
      return labels.map((label, i) => `${label.trim()} ${values[i]?.trim()}`);
    };
    // Off the chart, the legend shows the last round's values; the references are flat lines.
    assert.deepEqual(await legend('accuracy'), [
      'round 5',
      'distilled student 95.1%',
      'FedAvg, no teacher 92.3%',
      'FedAvg, public labels 93.0%',
      'centralized 95.6%',
      'centralized, public labels 96.1%',
      'local-only mean 88.9%',
      'teacher 96.5%',
    ]);
    assert.deepEqual(await legend('bytes'), [
      'round 5',
      'received by the coordinator 188 kB',
      'sent by the coordinator 421 kB',
    ]);
    const svg = page.locator('svg[data-test="chart-teacher-student"]');
    assert.equal(await svg.count(), 1);
    assert.equal(await svg.locator('rect').count(), 4);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
  });

  it('shows every site in the tables, a hostile name as text', async () => {
    const sites = await page.locator('[data-test="sites"]').innerText();
    for (const name of report.site_names) assert.ok(sites.includes(name), name);
    assert.equal(await page.locator('b').count(), 0, 'a site name became markup');
    assert.equal(await page.locator('[data-test="rounds"] tbody tr').count(), 5);
    assert.match(await page.locator('[data-test="baselines"]').innerText(), /distilled student/);
  });

  it('requests nothing but the file and logs no error', () => {
    assert.deepEqual(
      requests.filter((url) => url !== fileUrl),
      [],
    );
    assert.deepEqual(pageErrors, []);
  });
});

/**
 * Chromium under `LANG=C.UTF-8` reports `navigator.language` as `en-US@posix`, a tag `Intl`
 * refuses: uPlot threw as it loaded and both charts stayed empty. The npm Chromium follows `LANG`
 * (Debian's normalises it), so it plays this browser whichever the other tests drive.
 */
describe('the demo HTML report under a browser locale Intl refuses', () => {
  let dir: string;
  let browser: Browser;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-html-report-locale-'));
    browser = await launchChromium({ source: 'npm', lang: 'C.UTF-8' });
  });

  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('draws both charts and logs no error under en-US@posix', async () => {
    const file = path.join(dir, 'report.html');
    await writeFile(
      file,
      await renderHtmlReport(demoReportFixture(['northgate', 'riverside', 'eastfield'])),
    );
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    const reported = await page.evaluate<string>('navigator.language');
    assert.equal(reported, 'en-US@posix', 'the browser reports the tag Intl refuses');
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await page.locator('.uplot').nth(1).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('.uplot canvas').count(), 2);
    assert.equal(await page.evaluate<string>('navigator.language'), 'en-US');
    assert.deepEqual(errors, []);
  });
});

describe('the demo HTML report of a scenario whose public split is unlabelled', () => {
  let dir: string;
  let browser: Browser;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-html-report-unlabelled-'));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("draws no series for the baselines that had no public labels, one for the teacher's rows, and logs no error", async () => {
    const file = path.join(dir, 'report.html');
    await writeFile(file, await renderHtmlReport(unlabelledReportFixture()));
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await page.locator('.uplot').nth(1).waitFor({ timeout: 10_000 });
    const labels = await page
      .locator('[data-test="chart-accuracy"] .u-series .u-label')
      .allInnerTexts();
    assert.deepEqual(
      labels.map((l) => l.trim()),
      [
        'round',
        'distilled student',
        'FedAvg, no teacher',
        "FedAvg, teacher's rows",
        'centralized',
        "centralized, teacher's rows",
        'local-only mean',
        'teacher',
      ],
    );
    assert.deepEqual(errors, []);
  });
});
