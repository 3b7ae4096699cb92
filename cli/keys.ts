import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EnrolledSite } from '../coordinator/sites/allow-list-file.js';
import { PRIVATE_DIR_MODE } from '../coordinator/store/private-files.js';
import {
  generateIdentity,
  loadSodium,
  publicKeyFileSchema,
  publicPart,
  readJsonFile,
  unwrap,
  type AllowList,
} from '../protocol/index.js';

/** A site's NAME.pub, as the allow-list takes it. */
export async function readPublicKey(file: string): Promise<EnrolledSite> {
  const key = unwrap(await readJsonFile(file, publicKeyFileSchema));
  return { name: key.name, publicKey: key.publicKey };
}

/** Writes one site identity (NAME.key, NAME.pub) into `dir`, for enrolment or rotation. */
export async function generateSiteKey(
  dir: string,
  name: string,
): Promise<{ identity: string; publicKey: string }> {
  const sodium = await loadSodium();
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const site = generateIdentity(sodium, name);
  const identity = path.join(dir, `${name}.key`);
  await writeFile(identity, JSON.stringify(site, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  const publicKey = path.join(dir, `${name}.pub`);
  await writeFile(publicKey, JSON.stringify(publicPart(site), null, 2) + '\n', {
    mode: 0o644,
    flag: 'wx',
  });
  return { identity, publicKey };
}

export interface KeySet {
  readonly coordinatorIdentity: string;
  readonly coordinatorPublicKey: string;
  readonly siteIdentities: Readonly<Record<string, string>>;
  readonly allowList: string;
}

/**
 * Writes Ed25519 identities for the coordinator and each site into `dir`: NAME.key (secret,
 * mode 0600) and NAME.pub, plus allow-list.json with every site's public key. Existing key
 * files are never overwritten: a lost key is a re-enrolment, not a silent replacement.
 */
export async function generateKeySet(dir: string, siteNames: readonly string[]): Promise<KeySet> {
  const sodium = await loadSodium();
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const write = async (name: string, content: unknown, mode: number): Promise<string> => {
    const file = path.join(dir, name);
    await writeFile(file, JSON.stringify(content, null, 2) + '\n', { mode, flag: 'wx' });
    return file;
  };
  const coordinator = generateIdentity(sodium, 'coordinator');
  const coordinatorIdentity = await write('coordinator.key', coordinator, 0o600);
  await write('coordinator.pub', publicPart(coordinator), 0o644);
  const siteIdentities: Record<string, string> = {};
  const allowList: AllowList = { kind: 'fedistill.allow-list', sites: [], revoked: [] };
  for (const name of siteNames) {
    const site = generateIdentity(sodium, name);
    siteIdentities[name] = await write(`${name}.key`, site, 0o600);
    await write(`${name}.pub`, publicPart(site), 0o644);
    allowList.sites.push({ name, publicKey: site.publicKey });
  }
  return {
    coordinatorIdentity,
    coordinatorPublicKey: coordinator.publicKey,
    siteIdentities,
    allowList: await write('allow-list.json', allowList, 0o644),
  };
}
