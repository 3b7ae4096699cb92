import { rename, writeFile } from 'node:fs/promises';
import {
  allowListSchema,
  FedistillError,
  parseWith,
  readJsonFile,
  unwrap,
  type AllowList,
} from '../../protocol/index.js';

/** A site as enrolled: its name and its Ed25519 public key (base64). */
export interface EnrolledSite {
  readonly name: string;
  readonly publicKey: string;
}

/**
 * The operator's edits of the allow-list: enrol a site's public key, revoke a site, rotate its
 * key. Each reads the file, checks the result against the schema and replaces the file in one
 * rename, which a running coordinator notices and applies at once. The CLI calls these on the
 * file directly; the coordinator's API calls them on its own file.
 */
async function edit(file: string, change: (list: AllowList) => AllowList): Promise<AllowList> {
  const next = unwrap(
    parseWith(
      allowListSchema,
      change(unwrap(await readJsonFile(file, allowListSchema))),
      'config.invalid',
      file,
    ),
  );
  const partial = `${file}.${process.pid}.partial`;
  // Public keys, but writable by the owner only: under umask 000 anyone could enrol a key.
  await writeFile(partial, JSON.stringify(next, null, 2) + '\n', { mode: 0o644 });
  await rename(partial, file);
  return next;
}

function notEnrolled(name: string): never {
  throw new FedistillError({ code: 'config.invalid', message: `${name} is not enrolled` });
}

export async function enrolSite(allowListFile: string, site: EnrolledSite): Promise<AllowList> {
  return edit(allowListFile, (list) => {
    if (list.sites.some((s) => s.name === site.name)) {
      throw new FedistillError({
        code: 'config.invalid',
        message: `${site.name} is already enrolled; rotate its key instead`,
      });
    }
    return { ...list, sites: [...list.sites, site] };
  });
}

export async function revokeSite(
  allowListFile: string,
  name: string,
  at = new Date(),
): Promise<AllowList> {
  return edit(allowListFile, (list) => {
    const site = list.sites.find((s) => s.name === name) ?? notEnrolled(name);
    return {
      ...list,
      sites: list.sites.filter((s) => s !== site),
      revoked: [...list.revoked, { ...site, revokedAt: at.toISOString() }],
    };
  });
}

/** Replaces a site's key: the old key is revoked in the same edit, so no moment admits both. */
export async function rotateSiteKey(
  allowListFile: string,
  next: EnrolledSite,
  at = new Date(),
): Promise<AllowList> {
  return edit(allowListFile, (list) => {
    const old = list.sites.find((s) => s.name === next.name) ?? notEnrolled(next.name);
    return {
      ...list,
      sites: list.sites.map((s) => (s === old ? next : s)),
      revoked: [...list.revoked, { ...old, revokedAt: at.toISOString() }],
    };
  });
}
