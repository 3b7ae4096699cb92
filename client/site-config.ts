import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { backendChoiceSchema, FedistillError, parseWith, unwrap } from '../protocol/index.js';
import { dataSourceSchema, resolveSource } from './data-sources/private-data.js';
import { DEFAULT_SITE_DELTA } from './privacy-ledger.js';

/**
 * The one file a site engineer writes (YAML, or JSON, which is YAML too). Relative paths
 * resolve against the file's folder. Errors name the field: `data.path: Required`.
 */
export const siteConfigSchema = z
  .object({
    coordinator: z
      .object({
        url: z.url({ protocol: /^https?$/ }),
        /**
         * Other processes of the same coordinator (one leads, the others stand by on its store):
         * after a failed attempt the site tries the next address, in turn. All answer with the
         * same pinned key.
         */
        fallbackUrls: z.array(z.url({ protocol: /^https?$/ })).default([]),
        /** The coordinator's Ed25519 public key (base64), pinned: no other key is accepted. */
        publicKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a base64 Ed25519 public key'),
        /**
         * For an https URL: the PEM certificate (a CA's, or the coordinator's own self-signed one)
         * the coordinator's TLS certificate must chain to, instead of the system's CAs.
         */
        caFile: z.string().min(1).optional(),
      })
      .strict(),
    /** This site's identity file, as written by `fedistill keys generate` or `keys site`. */
    identityFile: z.string().min(1),
    /**
     * The federation's allow-list, as the operator hands it out (out of band): with it, a site
     * takes part in a secure round only when every participant is listed with its enrolled key.
     */
    federation: z
      .object({ allowListFile: z.string().min(1) })
      .strict()
      .optional(),
    data: dataSourceSchema,
    /** The share of private rows held back for local validation metrics. */
    validationFraction: z.number().min(0).max(0.5).default(0.1),
    /** Seeds the validation split. */
    seed: z.number().int().min(0).default(0),
    /** Where verified transfer sets are cached between runs. */
    cacheDir: z.string().min(1),
    backend: backendChoiceSchema.default('auto'),
    /** Local training on several worker threads (wasm or cpu backends), each on a shard. */
    parallelism: z
      .object({ workers: z.number().int().min(1).max(64).default(1) })
      .strict()
      .default({ workers: 1 }),
    /** What this site agrees to do per round; a round asking for more is refused. */
    limits: z
      .object({
        maxLocalEpochs: z.number().int().min(1).default(50),
        maxBatchSize: z.number().int().min(1).default(4096),
        maxParameters: z.number().int().min(1).default(50_000_000),
      })
      .strict()
      .default({ maxLocalEpochs: 50, maxBatchSize: 4096, maxParameters: 50_000_000 }),
    /**
     * The privacy this site guards itself, trusting neither the coordinator nor the other sites:
     * it refuses a round whose own noise (stddev over the clip norm, sigma/C) is below
     * `minNoiseMultiplier`, and one attempt more than its ledger allows within `maxEpsilon` (at
     * `delta`, over every run with this cacheDir). Without it the ledger is kept but not enforced.
     */
    privacy: z
      .object({
        minNoiseMultiplier: z.number().positive().max(1000),
        maxEpsilon: z.number().positive().max(1000),
        delta: z.number().gt(0).max(0.1).default(DEFAULT_SITE_DELTA),
      })
      .strict()
      .optional(),
    /** Reconnection when the coordinator is unreachable or restarts: exponential backoff. */
    reconnect: z
      .object({
        initialDelayMs: z.number().int().min(10).default(500),
        maxDelayMs: z.number().int().min(10).default(30_000),
        maxAttempts: z.number().int().min(0).default(20),
      })
      .strict()
      .default({ initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 20 }),
  })
  .strict();
export type SiteConfig = z.infer<typeof siteConfigSchema>;
export type SiteConfigInput = z.input<typeof siteConfigSchema>;

export async function loadSiteConfig(file: string): Promise<SiteConfig> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (error) {
    throw new FedistillError({
      code: 'config.invalid',
      message: `${file}: ${(error as Error).message}`,
    });
  }
  const config = unwrap(parseWith(siteConfigSchema, raw, 'config.invalid', file));
  const dir = path.dirname(path.resolve(file));
  return {
    ...config,
    ...(config.coordinator.caFile
      ? {
          coordinator: {
            ...config.coordinator,
            caFile: path.resolve(dir, config.coordinator.caFile),
          },
        }
      : {}),
    identityFile: path.resolve(dir, config.identityFile),
    ...(config.federation
      ? { federation: { allowListFile: path.resolve(dir, config.federation.allowListFile) } }
      : {}),
    data: resolveSource(config.data, dir),
    cacheDir: path.resolve(dir, config.cacheDir),
  };
}
