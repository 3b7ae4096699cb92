import { formatPercent } from '../../dashboard/format.js';

/** Every text that comes from the report (a site's name, a title) is escaped before it is markup. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * JSON for a `<script type="application/json">` block: with no `<` left, no value can close the
 * script (`</script>`) or open a comment in it; `JSON.parse` reads `\u003c` back as `<`.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** Held-out figures as every table and chart of the page shows them. */
export const accuracy = (share: number | null | undefined): string =>
  formatPercent(share ?? undefined, 2);
export const auc = (value: number | null | undefined): string =>
  value === null || value === undefined ? '–' : value.toFixed(3);

/** A table to render: `test` names it for the page's tests; the cells are already escaped. */
export interface HtmlTable {
  readonly test: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** The first column names the row; every other column is a figure, right-aligned. */
export function table({ test, head, rows }: HtmlTable): string {
  const cell = (tag: 'th' | 'td', text: string, column: number) =>
    `<${tag}${column > 0 ? ' class="num"' : ''}>${text}</${tag}>`;
  return (
    `<table data-test="${test}"><thead><tr>${head.map((h, i) => cell('th', escapeHtml(h), i)).join('')}</tr></thead>` +
    `<tbody>${rows.map((row) => `<tr>${row.map((c, i) => cell('td', c, i)).join('')}</tr>`).join('')}</tbody></table>`
  );
}
