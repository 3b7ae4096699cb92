import { existsSync } from 'node:fs';

/**
 * Which headless Chromium this machine offers, decided in one place for the browser tests
 * (harness/chromium.ts launches it) and `fedistill doctor` (which reports it). It lives in cli/,
 * not harness/, because the production build, which doctor is part of, leaves harness/ out.
 */

/** Debian's chromium, where the machine has it. */
export const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/**
 * The npm package holding a Chromium that unpacks to the temp folder on first use; a
 * devDependency, so a production install has none.
 */
export const NPM_CHROMIUM = '@sparticuz/chromium';

export type BrowserSource = 'system' | 'npm';

/** The system's browser unless it is missing or `FEDISTILL_BROWSER=npm` asks for the npm one. */
export function browserSource(): BrowserSource {
  return process.env['FEDISTILL_BROWSER'] !== 'npm' && existsSync(SYSTEM_CHROMIUM)
    ? 'system'
    : 'npm';
}
