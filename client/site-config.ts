import path from 'node:path';
import { z } from 'zod';
import { backendChoiceSchema, readJsonFile, unwrap } from '../protocol/index.js';

/** The one file a site engineer writes. Relative paths resolve against the file's folder. */
export const siteConfigSchema = z
  .object({
    coordinator: z
      .object({
        url: z.url({ protocol: /^https?$/ }),
        /** The coordinator's Ed25519 public key (base64), pinned: no other key is accepted. */
        publicKey: z.string().min(1),
      })
      .strict(),
    /** This site's identity file, as written by `fedistill keys generate`. */
    identityFile: z.string().min(1),
    /** The private data: a CSV of feature columns and a final `label` column. */
    privateData: z.string().min(1),
    /** Where verified transfer sets are cached between runs. */
    cacheDir: z.string().min(1),
    backend: backendChoiceSchema.default('auto'),
  })
  .strict();
export type SiteConfig = z.infer<typeof siteConfigSchema>;

export async function loadSiteConfig(file: string): Promise<SiteConfig> {
  const config = unwrap(await readJsonFile(file, siteConfigSchema));
  const dir = path.dirname(path.resolve(file));
  return {
    ...config,
    identityFile: path.resolve(dir, config.identityFile),
    privateData: path.resolve(dir, config.privateData),
    cacheDir: path.resolve(dir, config.cacheDir),
  };
}
