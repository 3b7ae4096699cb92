import { chromium, type Browser } from 'playwright-core';
import { browserSource, SYSTEM_CHROMIUM, type BrowserSource } from '../cli/browser-source.js';

export { browserSource, type BrowserSource };

const SYSTEM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];

/**
 * A headless Chromium for the browser tests, found without a download: Debian's where present,
 * otherwise the one inside the `@sparticuz/chromium` npm package (unpacked to the temp folder on
 * first use). `lang` sets the browser's `LANG`, which its locale follows (the npm one reports
 * `en-US@posix` under `C.UTF-8`; Debian's normalises it).
 */
export async function launchChromium(
  options: { readonly source?: BrowserSource; readonly lang?: string } = {},
): Promise<Browser> {
  const env = options.lang === undefined ? {} : { env: environmentWith('LANG', options.lang) };
  if ((options.source ?? browserSource()) === 'system') {
    return chromium.launch({ executablePath: SYSTEM_CHROMIUM, args: SYSTEM_ARGS, ...env });
  }
  const { default: packaged } = await import('@sparticuz/chromium');
  return chromium.launch({
    executablePath: await packaged.executablePath(),
    // Its arguments are Lambda's: one process, which dies with a test's last closed context.
    args: packaged.args.filter((arg) => arg !== '--single-process'),
    headless: true,
    ...env,
  });
}

/** This process's environment with one variable set: what a launched browser sees. */
function environmentWith(name: string, value: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, v] of Object.entries(process.env)) if (v !== undefined) env[key] = v;
  env[name] = value;
  return env;
}
