import {
  allowListSchema,
  fail,
  ok,
  readJsonFile,
  unwrap,
  type Result,
  type SecureRound,
} from '../protocol/index.js';

/** The federation's enrolled sites as this site pinned them: name -> Ed25519 key (base64). */
export type FederationKeys = ReadonlyMap<string, string>;

/**
 * Reads the federation's allow-list, which a site receives out of band (from the operator, not
 * over the coordinator's connection). Revoked keys are left out: they sign nothing any more.
 */
export async function loadFederationKeys(file: string): Promise<FederationKeys> {
  const list = unwrap(await readJsonFile(file, allowListSchema));
  return new Map(list.sites.map((site) => [site.name, site.publicKey]));
}

/**
 * A secure round's participants must be enrolled sites with the keys the site pinned: without
 * this check a coordinator could list identities it invented (Sybils) and fill a round with
 * them, and every signature the site checks would be by keys the coordinator holds.
 */
export function checkRoundIdentities(
  pinned: FederationKeys,
  settings: Pick<SecureRound, 'identities'>,
): Result<true> {
  for (const { site, publicKey } of settings.identities) {
    const expected = pinned.get(site);
    if (expected === undefined) {
      return fail('secagg.unknown_site', `${site} is not in this site's copy of the allow-list`);
    }
    if (Buffer.from(publicKey).toString('base64') !== expected) {
      return fail(
        'secagg.unknown_site',
        `round.start lists ${site} with a key that is not the one in this site's allow-list`,
      );
    }
  }
  return ok(true);
}
