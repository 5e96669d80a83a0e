/**
 * Keeps the folders of src/ layered: the graph whose nodes are the first path segment under src/
 * (files directly in src/ are the node `(root)`) and whose edges are imports between them has no
 * cycle. A folder cycle is a design smell even when no file cycle exists: two folders that need
 * each other are one concept split in two, or an owner whose reader should have been told instead.
 *
 * Imports are read with TypeScript's own pre-processor, so `import type`, `export … from` and
 * `import()` all count; spec files do not (a test may reach across).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import * as ts from 'typescript';

const SRC = resolve(__dirname, '..', '..', 'src');
const ROOT_NODE = '(root)';

/** Folder → the folders it imports from (itself excluded). */
type FolderGraph = Map<string, Set<string>>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    const isSource = /\.tsx?$/.test(name) && !/\.d\.ts$/.test(name) && !/\.(e2e-)?spec\.tsx?$/.test(name);
    return isSource ? [path] : [];
  });
}

/**
 * The folder a path under src/ belongs to, or undefined for a path outside src/. A path naming a
 * folder itself (`../protocol`, resolved through its index file) belongs to that folder.
 */
function folderOf(path: string): string | undefined {
  const rel = relative(SRC, path);
  if (rel.startsWith('..') || rel === '') return undefined;
  const segments = rel.split(sep);
  if (segments.length > 1 || isDirectory(path)) return segments[0];
  return ROOT_NODE;
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

function buildGraph(files: string[]): FolderGraph {
  const graph: FolderGraph = new Map();
  for (const file of files) {
    const from = folderOf(file)!;
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package, not ours
      const to = folderOf(resolve(dirname(file), fileName));
      if (to !== undefined && to !== from) edges.add(to);
    }
  }
  return graph;
}

/** One cycle of `graph` as a closed path (`a → b → a`), or undefined when it has none. */
function findCycle(graph: FolderGraph): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    path.push(node);
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      if (state.get(next) === 'open') return [...path.slice(path.indexOf(next)), next];
      if (state.get(next) === undefined) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.get(node) !== undefined) continue;
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

function describeGraph(graph: FolderGraph): string {
  return [...graph.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([from, to]) => `${from} -> ${[...to].sort().join(' ') || '(nothing)'}`)
    .join('\n');
}

describe('folder graph of src/', () => {
  const graph = buildGraph(sourceFiles(SRC));

  it('is read from the sources (known edges, all import forms)', () => {
    // Guards against a parser or path change that would leave the graph empty and the check vacuous.
    expect(graph.get('gateway')).toContain('connections');
    expect(graph.get(ROOT_NODE)).toContain('gateway');
    expect(graph.get('connections')).toContain('transport'); // only `import type { ClientTransport } …`: type-only imports count
    const typeOnly = ts.preProcessFile(`import type { A } from './a';\nexport { B } from '../b';\nconst c = import('./c');`, true, true);
    expect(typeOnly.importedFiles.map((f) => f.fileName)).toEqual(['./a', '../b', './c']);
  });

  it('finds a cycle when there is one', () => {
    const cyclic: FolderGraph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
      ['d', new Set(['a'])],
    ]);
    expect(findCycle(cyclic)).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', new Set(['b'])], ['b', new Set<string>()]]))).toBeUndefined();
  });

  it('has no cycle', () => {
    const cycle = findCycle(graph);
    const message = cycle ? `folder cycle: ${cycle.join(' -> ')}\n\nfull graph:\n${describeGraph(graph)}` : 'no cycle';
    expect(message).toBe('no cycle');
  });
});
