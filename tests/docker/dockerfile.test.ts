import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = (file: string) => fileURLToPath(new URL(`../../../${file}`, import.meta.url));

/**
 * The images cannot be built here (no Docker engine), so what a build needs is checked from the
 * files: the stage that runs `npm run build` copies every folder tsc compiles.
 */
describe('docker/Dockerfile', () => {
  it("copies into its build stage every folder tsconfig.json includes, and the dashboard's", async () => {
    const dockerfile = await readFile(root('docker/Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    const build = stages.find((stage) => /^RUN npm run build$/m.test(stage));
    assert.ok(build, 'no stage runs npm run build');
    const copied = [...build.matchAll(/^COPY (?!--from)(\S+) /gm)].map((m) => m[1]);
    const tsconfig = JSON.parse(await readFile(root('tsconfig.json'), 'utf8')) as {
      include: string[];
    };
    // npm run build also compiles the dashboard's own tsconfig and copies its pages.
    for (const folder of [...tsconfig.include, 'dashboard']) {
      assert.ok(copied.includes(folder), `the build stage does not copy ${folder}/`);
    }
  });
});
