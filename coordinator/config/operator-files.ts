import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fail, ok, type Result } from '../../protocol/index.js';

/** Where files named by a run spec or an API request may be, and how much of them is read. */
export interface OperatorFilesPolicy {
  /** The only folder such files may be in (symbolic links are resolved before the check). */
  readonly dir: string;
  readonly maxBytes: number;
  readonly readTimeoutMs: number;
}

/**
 * O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever (and hold a libuv
 * thread); O_NOFOLLOW: the last component cannot be swapped for a link after the check.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/**
 * Reads a file an operator named: an absolute path whose real location is under the policy's
 * folder, a regular file no larger than the cap, read within the timeout. Messages name the
 * file and never quote its content.
 */
export async function readOperatorFile(
  file: string,
  policy: OperatorFilesPolicy,
): Promise<Result<Buffer>> {
  const located = await locate(file, policy.dir);
  if (!located.ok) return located;
  let handle: FileHandle;
  try {
    handle = await open(located.value, OPEN_FLAGS);
  } catch (error) {
    return unreadable(file, error);
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Result<Buffer>>((resolve) => {
    timer = setTimeout(
      () =>
        resolve(fail('file.unreadable', `${file} was not read within ${policy.readTimeoutMs} ms`)),
      policy.readTimeoutMs,
    );
  });
  try {
    return await Promise.race([readCapped(handle, file, policy.maxBytes), timedOut]);
  } finally {
    clearTimeout(timer);
    // Closing also ends a read still pending after the timeout.
    await handle.close().catch(() => undefined);
  }
}

/** The file's real path, if it is under the folder's real path. */
async function locate(file: string, dir: string): Promise<Result<string>> {
  if (!path.isAbsolute(file)) {
    return fail('file.outside_folder', `${file} is not an absolute path`);
  }
  let realDir: string;
  let realFile: string;
  try {
    realDir = await realpath(dir);
  } catch (error) {
    return fail('file.unreadable', `the operator files folder ${dir}: ${codeOf(error)}`);
  }
  try {
    realFile = await realpath(file);
  } catch (error) {
    return unreadable(file, error);
  }
  const relative = path.relative(realDir, realFile);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    return fail('file.outside_folder', `${file} is not under the operator files folder ${dir}`);
  }
  return ok(realFile);
}

async function readCapped(
  handle: FileHandle,
  file: string,
  maxBytes: number,
): Promise<Result<Buffer>> {
  const stat = await handle.stat();
  if (!stat.isFile()) return fail('file.not_regular', `${file} is not a regular file`);
  if (stat.size > maxBytes) {
    return fail('file.too_large', `${file} has ${stat.size} bytes, over the cap of ${maxBytes}`);
  }
  // One byte over the cap tells a file that grew since the stat.
  const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
  let filled = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled === buffer.length) {
        const code = filled > maxBytes ? 'file.too_large' : 'file.unreadable';
        return fail(code, `${file} grew while it was read`);
      }
    }
  } catch (error) {
    return unreadable(file, error);
  }
  return ok(buffer.subarray(0, filled));
}

function unreadable(file: string, error: unknown): Result<never> {
  return fail('file.unreadable', `cannot read ${file}: ${codeOf(error)}`);
}

/** The system error's code (ENOENT, EACCES…): its message could say more than the operator asked. */
function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'read failed';
}
