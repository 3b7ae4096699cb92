import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { browserSource, NPM_CHROMIUM, SYSTEM_CHROMIUM } from '../browser-source.js';
import type { Check } from './doctor-report.js';
import { installedVersion } from './installed-packages.js';

/** `chromium --version` answers in well under a second; a browser that takes this long is broken. */
const VERSION_TIMEOUT_MS = 10_000;

const GET_ONE = `Debian: apt-get install chromium; or, in a clone, npm install --include=dev for ${NPM_CHROMIUM}`;

/**
 * The browser the dashboard and report browser tests would drive (browserSource), checked
 * cheaply: the system one answers `--version`, the npm one is installed (its Chromium unpacks
 * only when first launched). Only the browser tests need one, so it is never required.
 */
export async function checkBrowser(): Promise<Check> {
  const base = { group: 'browser', name: 'chromium', required: false } as const;
  if (browserSource() === 'system') {
    try {
      const { stdout } = await promisify(execFile)(SYSTEM_CHROMIUM, ['--version'], {
        timeout: VERSION_TIMEOUT_MS,
      });
      const version = /\d+(\.\d+)+/.exec(stdout)?.[0];
      return {
        ...base,
        status: 'ok',
        detail: `${stdout.trim()} (${SYSTEM_CHROMIUM})`,
        ...(version ? { version } : {}),
      };
    } catch (error) {
      return {
        ...base,
        status: 'failed',
        detail: `${SYSTEM_CHROMIUM} --version failed: ${(error as Error).message.split('\n')[0]}`,
        hint: `reinstall it (Debian: apt-get install --reinstall chromium), or FEDISTILL_BROWSER=npm for ${NPM_CHROMIUM}`,
      };
    }
  }
  const version = installedVersion(NPM_CHROMIUM);
  const why =
    process.env['FEDISTILL_BROWSER'] === 'npm' ? 'FEDISTILL_BROWSER=npm' : `no ${SYSTEM_CHROMIUM}`;
  return version === null
    ? {
        ...base,
        status: 'missing',
        detail: `${why}, and ${NPM_CHROMIUM} (a devDependency) is not installed: a production install has none`,
        hint: GET_ONE,
      }
    : {
        ...base,
        status: 'ok',
        detail: `${NPM_CHROMIUM} ${version} (${why}; its Chromium unpacks to the temp folder on first launch)`,
        version,
      };
}
