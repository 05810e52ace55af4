/**
 * The import graph of src/: no cycles (between files, and so between folders), and the layering the
 * codebase relies on (defense/ never imports eval/, pipeline/ or cli/; the detector's decision model
 * lives with the detector). Walks the relative imports of every .ts file by hand: type-only imports
 * count too, because a cycle through types still couples the files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Relative import/export specifiers of a module, resolved to src-relative .ts paths. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    const target = path.resolve(path.dirname(file), m[1]).replace(/\.js$/, '.ts');
    out.push(path.relative(SRC, target).split(path.sep).join('/'));
  }
  return out;
}

/** Strongly connected components with more than one file (or a self-import): the cycles. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const graph = new Map<string, string[]>();
for (const f of tsFiles(SRC)) {
  graph.set(path.relative(SRC, f).split(path.sep).join('/'), importsOf(f, readFileSync(f, 'utf8')));
}
// root files (index.ts, errors.ts, version.ts) are their own nodes: index.ts imports everything
const folderOf = (f: string) => (f.includes('/') ? f.slice(0, f.indexOf('/')) : f);

describe('import graph of src/', () => {
  test('the walker finds imports and cycles (self-check on a made-up graph)', () => {
    expect(importsOf(path.join(SRC, 'a/b.ts'), "import { x } from '../c/d.js';\nexport * from './e.js';\nimport type { T } from './f.js';")).toEqual([
      'c/d.ts',
      'a/e.ts',
      'a/f.ts',
    ]);
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(cycles(g)).toEqual([['a', 'b', 'c']]);
    expect(graph.size).toBeGreaterThan(50);
  });

  test('every relative import resolves to a file in src/', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} → ${d}`));
    expect(missing).toEqual([]);
  });

  test('has no import cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  test('has no import cycle between folders', () => {
    const folders = new Map<string, string[]>();
    for (const [f, deps] of graph) {
      const from = folderOf(f);
      const to = deps.map(folderOf).filter((d) => d !== from);
      folders.set(from, [...new Set([...(folders.get(from) ?? []), ...to])]);
    }
    expect(cycles(folders)).toEqual([]);
  });

  test('defense/ imports neither eval/ nor pipeline/ nor cli/', () => {
    const bad = [...graph].flatMap(([f, deps]) =>
      f.startsWith('defense/') ? deps.filter((d) => /^(eval|pipeline|cli)\//.test(d)).map((d) => `${f} → ${d}`) : [],
    );
    expect(bad).toEqual([]);
  });
});
