import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root, from dist/tests/architecture/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** File -> the files of the same folder tree it imports (type-only imports included). */
type ImportGraph = ReadonlyMap<string, readonly string[]>;

/**
 * The import graph of every .ts file under `folder`, read from the sources (not dist/, where
 * type-only imports are gone): a cycle of types is still two parts that cannot be read, tested
 * or replaced one without the other.
 */
function importGraph(folder: string): ImportGraph {
  const base = path.join(ROOT, folder);
  const files = readdirSync(base, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.split(path.sep).join('/'))
    .sort();
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const source = readFileSync(path.join(base, file), 'utf8');
    const { importedFiles } = ts.preProcessFile(source, true, true);
    const targets = new Set<string>();
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = path.posix.normalize(
        path.posix.join(path.posix.dirname(file), fileName.replace(/\.js$/, '.ts')),
      );
      if (!target.startsWith('../')) targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/**
 * Every cycle worth naming: for each file on one, the shortest way back to it, as a path that
 * starts and ends at its alphabetically first file. Cutting any one edge of a path breaks it.
 */
function importCycles(graph: ImportGraph): string[][] {
  const cycles = new Map<string, string[]>();
  for (const start of graph.keys()) {
    // Breadth first from start's successors, so the first way back is a shortest one.
    const from = new Map<string, string>();
    const queue = [...(graph.get(start) ?? [])];
    for (const next of queue) from.set(next, start);
    while (queue.length && !from.has(start)) {
      const file = queue.shift()!;
      for (const next of graph.get(file) ?? []) {
        if (from.has(next)) continue;
        from.set(next, file);
        queue.push(next);
      }
    }
    if (!from.has(start)) continue;
    const loop = [start];
    for (let file = from.get(start)!; file !== start; file = from.get(file)!) loop.unshift(file);
    const first = loop.indexOf([...loop].sort()[0]!);
    const rotated = [...loop.slice(first), ...loop.slice(0, first)];
    const cycle = [...rotated, rotated[0]!];
    cycles.set(cycle.join(' -> '), cycle);
  }
  return [...cycles.keys()].sort().map((key) => cycles.get(key)!);
}

describe('architecture: imports', () => {
  it('finds a cycle, type-only imports included, and names it as a path of files', () => {
    const cases: { graph: Record<string, string[]>; cycles: string[] }[] = [
      { graph: { 'a.ts': ['b.ts'], 'b.ts': ['c.ts'], 'c.ts': [] }, cycles: [] },
      { graph: { 'a.ts': ['a.ts'] }, cycles: ['a.ts -> a.ts'] },
      {
        graph: { 'runs/run.ts': ['teacher/t.ts'], 'teacher/t.ts': ['runs/run.ts'] },
        cycles: ['runs/run.ts -> teacher/t.ts -> runs/run.ts'],
      },
      {
        // Two cycles through one file: each is named.
        graph: { 'a.ts': ['b.ts', 'c.ts'], 'b.ts': ['a.ts'], 'c.ts': ['d.ts'], 'd.ts': ['a.ts'] },
        cycles: ['a.ts -> b.ts -> a.ts', 'a.ts -> c.ts -> d.ts -> a.ts'],
      },
    ];
    for (const { graph, cycles } of cases) {
      const found = importCycles(new Map(Object.entries(graph))).map((c) => c.join(' -> '));
      assert.deepEqual(found, cycles, JSON.stringify(graph));
    }
    const source = "import type { A } from './a.js';\nexport { B } from '../b.js';\n";
    assert.deepEqual(
      ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName),
      ['./a.js', '../b.js'],
    );
  });

  it('coordinator/ has no import cycle', () => {
    const graph = importGraph('coordinator');
    assert.ok(graph.size > 50, `read only ${graph.size} files under coordinator/`);
    const cycles = importCycles(graph).map((cycle) => cycle.join(' -> '));
    assert.deepEqual(
      cycles,
      [],
      `import cycles under coordinator/ (cut one edge of each):\n  ${cycles.join('\n  ')}`,
    );
  });
});
