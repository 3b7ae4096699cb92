import { chmodSync, closeSync, openSync } from 'node:fs';

/**
 * Owner only, whatever the umask: the store holds open rounds' deltas and example counts,
 * tokens and keys; exports and reports are the federation's model and figures. Modes given at
 * creation can only be narrowed by the umask, never widened, so these hold under umask 000.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Creates the file owner-only if absent, and narrows it to owner-only if it was wider. */
export function ensurePrivateFile(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  chmodSync(file, PRIVATE_FILE_MODE);
}
