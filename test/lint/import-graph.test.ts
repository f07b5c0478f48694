// The import graph of main/ and core/ has no file cycles (the lint's floors keep imports running
// down between folders; this keeps them acyclic inside a folder too). Imports are read by
// TypeScript's own pre-processor: static, type-only, re-exports and dynamic import().
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** Repository-relative .ts files under dir. */
function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? sources(rel) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** The repository file a relative specifier of `from` names, or undefined (a package, or not a .ts file). */
function resolve(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.posix.join(path.posix.dirname(from), specifier).replace(/\.(js|ts)$/, '');
  return [`${base}.ts`, `${base}/index.ts`].find((f) => statSync(path.join(root, f), { throwIfNoEntry: false })?.isFile());
}

/** Each file's imports of other files of the graph. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  return new Map(files.map((f) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(root, f), 'utf8'), true, true);
    return [f, [...new Set(importedFiles.map((i) => resolve(f, i.fileName)).filter((t): t is string => t !== undefined))]];
  }));
}

/** The strongly connected components of more than one file (or a file importing itself): the cycles, each sorted. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc = stack.splice(stack.indexOf(v));
      if (scc.length > 1 || graph.get(v)?.includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import graph', () => {
  it('finds a cycle through three files and a file importing itself, and none in a chain', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c']]);
    expect(cycles(new Map([['a', ['a']], ['b', []]]))).toEqual([['a']]);
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });

  it('main/ and core/ have no file cycles', () => {
    const graph = importGraph([...sources('main'), ...sources('core')]);
    // The reader sees the imports (a broken reader would find no cycle anywhere).
    expect(graph.get('main/engine/onnx-engine.ts')).toContain('main/engine/engine-api.ts');
    expect(graph.get('main/services/models.ts')).toContain('main/services/convert-model.ts');
    expect(cycles(graph)).toEqual([]);
  });
});
