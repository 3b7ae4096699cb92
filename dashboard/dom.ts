/**
 * Tiny DOM builders. Everything the page shows is built with createElement and textContent,
 * never innerHTML: site names, run ids and audit fields come from outside and are untrusted.
 */

type Child = Node | string | null | undefined | false;

export interface ElementOptions {
  readonly className?: string;
  readonly text?: string;
  /** Plain attributes (data-test, type, title...); `undefined` values are skipped. */
  readonly attrs?: Readonly<Record<string, string | undefined>>;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElementOptions = {},
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = options.text;
  for (const [name, value] of Object.entries(options.attrs ?? {})) {
    if (value !== undefined) node.setAttribute(name, value);
  }
  append(node, children);
  return node;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Sets text only when it changed, so untouched cells cost no layout. */
export function setText(node: Node, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

export function button(label: string, dataTest: string, onClick: () => void): HTMLButtonElement {
  const node = el('button', { text: label, attrs: { type: 'button', 'data-test': dataTest } });
  node.addEventListener('click', onClick);
  return node;
}

/** A labelled key/value pair for headers ("Phase: round-open"). */
export function stat(label: string, dataTest: string): { root: HTMLElement; value: HTMLElement } {
  const value = el('span', { className: 'stat-value', attrs: { 'data-test': dataTest } });
  const root = el('div', { className: 'stat' }, [
    el('span', { className: 'stat-label', text: label }),
    value,
  ]);
  return { root, value };
}

/** Coalesces many calls into one per animation frame (deltas can arrive faster than frames). */
export function frameScheduler(work: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      work();
    });
  };
}
