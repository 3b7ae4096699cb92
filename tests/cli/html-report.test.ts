import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DemoReport } from '../../cli/demo/demo-report.js';
import { renderHtmlReport } from '../../cli/demo/html-report.js';
import { demoReportFixture, unlabelledReportFixture } from '../support/demo-report.js';

const HOSTILE = '</script><b>bold</b>';

/** The text of the report-data block, as the browser hands it to the page's script. */
function reportData(html: string): string {
  const block = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(block, 'no report-data block');
  return block[1]!;
}

describe('the demo HTML report', () => {
  it('asks for nothing over the network: no URL in src or href, no CSS import, a CSP of none', async () => {
    const html = await renderHtmlReport(demoReportFixture());
    // Any scheme (http:, https:, file:, ...) or a protocol-relative `//host`.
    const urlAttributes = html.match(/\b(?:src|href)\s*=\s*["']?\s*(?:[a-z][\w+.-]*:|\/\/)/gi);
    assert.equal(urlAttributes, null, `URL attributes: ${urlAttributes?.join(', ')}`);
    assert.doesNotMatch(html, /<script[^>]*\bsrc\s*=/i);
    assert.doesNotMatch(html, /<link\b/i);
    assert.doesNotMatch(html, /@import|url\(\s*["']?(?!data:)/i);
    assert.match(
      html,
      /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:/,
    );
    assert.match(html, /var uPlot=/, 'uPlot is inlined');
    assert.match(html, /\.uplot\s*\{/, 'its styles are inlined');
  });

  it('carries the report as JSON that parses back to the same report', async () => {
    const report = demoReportFixture();
    const data = reportData(await renderHtmlReport(report));
    assert.deepEqual(JSON.parse(data), report);
  });

  it('escapes a site name that tries to close the script and add markup', async () => {
    const report = demoReportFixture([HOSTILE, 'northgate', 'riverside']);
    const html = await renderHtmlReport(report);
    assert.ok(!html.includes(HOSTILE), 'the name appears raw');
    assert.ok(!html.includes('<b>'), 'the name added an element');
    assert.match(html, /&lt;\/script&gt;&lt;b&gt;bold&lt;\/b&gt;/, 'escaped in the tables');
    // Only the four script elements close: data, the locale guard, uPlot, charts.
    assert.equal(html.match(/<\/script/gi)?.length, 4);
    const data = reportData(html);
    assert.ok(!data.includes('<'), 'a raw < in the data block');
    assert.ok(data.includes('\\u003c/script>\\u003cb>'));
    assert.deepEqual(JSON.parse(data), report);
  });

  it('titles the page after the scenario and fills the tables', async () => {
    const report = demoReportFixture();
    const html = await renderHtmlReport(report);
    assert.match(html, /<title>Three hospitals distil a breast-cancer classifier – /);
    assert.match(html, /<h1>Three hospitals distil a breast-cancer classifier<\/h1>/);
    for (const site of report.site_names) assert.ok(html.includes(`<td>${site}</td>`), site);
    for (const test of ['sites', 'rounds', 'baselines', 'teacher-student']) {
      assert.match(html, new RegExp(`<table data-test="${test}">`), test);
    }
    assert.match(html, /<th class="num">AUC<\/th>/, 'a binary task has an AUC column');
    assert.match(html, /<td>FedAvg without teacher<\/td><td class="num">92\.30%<\/td>/);
    assert.match(html, /<td>FedAvg with the public labels<\/td><td class="num">93\.00%<\/td>/);
    assert.match(html, /<td>centralized, public labels too<\/td><td class="num">96\.10%<\/td>/);
  });

  it('leaves out the AUC columns for a task that is not binary', async () => {
    const binary = demoReportFixture();
    const report: DemoReport = {
      ...binary,
      compression: { ...binary.compression, auc: undefined },
      scenario: {
        ...binary.scenario,
        classes: 3,
        class_names: ['a', 'b', 'c'],
        sites: binary.scenario.sites.map(({ positive_share: _share, ...site }) => ({
          ...site,
          label_counts: [...site.label_counts, 0],
        })),
      },
      baselines: { ...binary.baselines, centralized: { accuracy: 0.956 } },
    };
    const html = await renderHtmlReport(report);
    assert.doesNotMatch(html, /AUC/);
    assert.doesNotMatch(html, /positive share/);
    assert.match(html, /<th class="num">label c<\/th>/);
  });

  it('states the premise, and leaves out the baselines that had no public labels to use', async () => {
    const report = unlabelledReportFixture();
    const html = await renderHtmlReport(report);
    assert.match(
      html,
      /<dt>Premise<\/dt><dd data-test="premise">the teacher learned from 4,000 digit images outside the federation; the transfer set is unlabelled; distillation is expected to help<\/dd>/,
    );
    assert.doesNotMatch(html, /<td>FedAvg with the public labels<\/td>/);
    assert.doesNotMatch(html, /<td>centralized, public labels too<\/td>/);
    assert.match(html, /<td>FedAvg without teacher<\/td><td class="num">92\.30%<\/td>/);
    assert.match(html, /<td>centralized \(all rows pooled\)<\/td><td class="num">95\.60%<\/td>/);
    // The outside teacher's own rows, as references.
    assert.match(html, /<td>FedAvg with the teacher&#39;s rows<\/td><td class="num">94\.80%<\/td>/);
    assert.match(
      html,
      /<td>centralized, teacher&#39;s rows too<\/td><td class="num">96\.80%<\/td>/,
    );
    // The labelled fixture has both rows: the difference is the null baselines.
    const labelled = await renderHtmlReport(demoReportFixture());
    assert.match(labelled, /<td>FedAvg with the public labels<\/td>/);
    assert.match(labelled, /<td>centralized, public labels too<\/td>/);
    assert.doesNotMatch(labelled, /<td>[^<]*teacher&#39;s rows/);
  });
});
