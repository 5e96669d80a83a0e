import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import * as ts from 'typescript';

/**
 * The seams of `streams/` as the code must keep them (issue: one stream-log seam), read from the
 * sources: a change that crosses one fails here, whatever it compiles to.
 */
const SRC = resolve(__dirname, '..');
const STREAMS = join(SRC, 'streams');

/** Every .ts file under `dir`, specs included. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The modules `file` imports (static, dynamic and `require`), as paths under src/ when relative. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles.map(({ fileName }) => (fileName.startsWith('.') ? relative(SRC, resolve(dirname(file), fileName)).split(sep).join('/') : fileName));
}

/** The names `file`'s import declarations bring in (`import { A, type B as C } from …` gives A, B, C). */
function importedNames(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
  const names: string[] = [];
  for (const statement of source.statements) {
    const clause = ts.isImportDeclaration(statement) ? statement.importClause : undefined;
    if (!clause) continue;
    if (clause.name) names.push(clause.name.text);
    const bindings = clause.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) names.push(bindings.name.text);
    if (bindings && ts.isNamedImports(bindings)) for (const element of bindings.elements) names.push(...[element.propertyName?.text, element.name.text].filter((n): n is string => n !== undefined));
  }
  return names;
}

const inStreams = (path: string) => relative(SRC, path).split(sep).join('/');
const importing = (files: string[], matches: (imported: string) => boolean) =>
  files.flatMap((file) => importsOf(file).filter(matches).map((imported) => `${inStreams(file)} → ${imported}`));

describe('streams/ boundaries', () => {
  const all = sources(STREAMS);
  /** The module's wiring: the one place that chooses the log's implementation. */
  const WIRING = join(STREAMS, 'streams.module.ts');

  it('finds the sources it checks', () => {
    expect(all).toContain(join(STREAMS, 'stream-manager.service.ts'));
    expect(all).toContain(join(STREAMS, 'redis', 'replicated-stream-log.ts'));
  });

  it('streams/ imports nothing from connections/: a watching socket is the StreamSocket streams/ defines', () => {
    expect(importing(all, (imported) => imported.startsWith('connections/'))).toEqual([]);
  });

  it('StreamManagerService depends on the StreamLog seam only: nothing from redis/, nothing Redis-named', () => {
    const manager = join(STREAMS, 'stream-manager.service.ts');
    expect(importsOf(manager).filter((imported) => /redis/i.test(imported))).toEqual([]);
    expect(importedNames(manager).filter((name) => /redis/i.test(name))).toEqual([]);
    expect(importedNames(manager)).toEqual(expect.arrayContaining(['STREAM_LOG', 'StreamLog']));
    expect(importedNames(manager)).not.toEqual(expect.arrayContaining(['MemoryStreamLog']));
  });

  it('Redis code of the stream log lives in streams/redis/; outside it only the wiring chooses it', () => {
    const outside = all.filter((file) => !file.startsWith(join(STREAMS, 'redis') + sep));
    const wiring = [WIRING, join(STREAMS, 'stream-log.provider.ts')];
    expect(importing(outside.filter((file) => !wiring.includes(file)), (imported) => imported.startsWith('redis/') || imported.startsWith('streams/redis/') || imported === 'ioredis')).toEqual([]);
  });

  it('redis/ owns the connection and its health only: it imports nothing from streams/', () => {
    expect(importing(sources(join(SRC, 'redis')), (imported) => imported.startsWith('streams/'))).toEqual([]);
  });
});
