import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { initEngine } from '../../src/engine/backend.js';
import { WorkerPool, defaultPoolSize } from '../../src/engine/pool.js';
import { Rng } from '../../src/util/rng.js';

const TASKS = new URL('./pool-tasks.ts', import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function naiveMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * n + j]!;
    c[i * n + j] = s;
  }
  return c;
}

function randArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

describe('defaultPoolSize', () => {
  test('is the core count unless PCL_WORKERS overrides it', () => {
    const saved = process.env.PCL_WORKERS;
    try {
      delete process.env.PCL_WORKERS;
      expect(defaultPoolSize()).toBe(os.availableParallelism());
      process.env.PCL_WORKERS = '3';
      expect(defaultPoolSize()).toBe(3);
      process.env.PCL_WORKERS = 'two';
      expect(() => defaultPoolSize()).toThrow(/PCL_WORKERS: expected a positive integer, got 'two'/);
      process.env.PCL_WORKERS = '0';
      expect(() => defaultPoolSize()).toThrow(/PCL_WORKERS/);
    } finally {
      if (saved === undefined) delete process.env.PCL_WORKERS;
      else process.env.PCL_WORKERS = saved;
    }
  });

  test('rejects a bad size', () => {
    expect(() => new WorkerPool({ size: 0 })).toThrow(/size must be a positive integer, got 0/);
    expect(() => new WorkerPool({ size: 1.5 })).toThrow(/size must be a positive integer/);
  });
});

describe('WorkerPool with 2 workers, from TypeScript sources', () => {
  let pool: WorkerPool;
  beforeAll(() => {
    pool = new WorkerPool({ size: 2 });
  });
  afterAll(async () => {
    await pool.close();
  });

  test('runs tfjs tasks in worker threads and returns results in payload order', async () => {
    const rng = new Rng(3);
    const payloads = [1, 2, 3, 4, 5].map((i) => {
      const m = 3 + i, k = 4, n = 2 + i;
      return { a: randArray(m * k, rng), b: randArray(k * n, rng), m, k, n };
    });
    const progress: number[] = [];
    const out = await pool.map<(typeof payloads)[number], { c: Float32Array; threadId: number }>(
      TASKS,
      'matMulTask',
      payloads,
      { onProgress: (done, total) => progress.push(done * 100 + total) },
    );
    expect(out).toHaveLength(5);
    out.forEach((r, i) => {
      const p = payloads[i]!;
      expect(r.c).toBeInstanceOf(Float32Array);
      const want = naiveMatMul(p.a, p.b, p.m, p.k, p.n);
      expect(r.c.length).toBe(want.length);
      for (let j = 0; j < want.length; j++) expect(Math.abs(r.c[j]! - want[j]!)).toBeLessThan(1e-4);
      expect(r.threadId).toBeGreaterThan(0); // not the main thread
    });
    expect(progress).toEqual([105, 205, 305, 405, 505]);
  });

  test('spreads work over both workers', async () => {
    const ids = await pool.map<{ ms: number }, number>(TASKS, 'spin', [200, 200, 200, 200].map((ms) => ({ ms })));
    expect(new Set(ids).size).toBe(2);
  });

  test('each worker initialised the engine (wasm + replacement kernels) and can take gradients', async () => {
    const out = await pool.map<object, { backend: string; fastKernels: string[]; grad: number[] }>(TASKS, 'engineTask', [
      {},
      {},
    ]);
    for (const r of out) {
      expect(r.backend).toBe(process.env.PCL_BACKEND ?? 'wasm');
      if (r.backend === 'wasm') expect(r.fastKernels).toContain('Conv2DBackpropFilter');
      expect(r.grad).toEqual([2, 4, 6]);
    }
  });

  test('a task error rejects with the original name and message, and the pool stays usable', async () => {
    const err = await pool.run(TASKS, 'failingTask', { tag: 'xyz' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("failingTask: bad tag 'xyz'");
    expect((err as Error).name).toBe('ArgumentError');
    await expect(
      pool.map(TASKS, 'sometimesFails', [0, 1, 2, 3, 4, 5].map((i) => ({ i, bad: 3 }))),
    ).rejects.toThrow('item 3 is bad');
    await expect(pool.map(TASKS, 'sometimesFails', [0, 1, 2].map((i) => ({ i, bad: -1 })))).resolves.toEqual([0, 2, 4]);
  });

  test('a missing export or module is reported', async () => {
    await expect(pool.run(TASKS, 'notAFunction', {})).rejects.toThrow(/has no exported function 'notAFunction'/);
    await expect(pool.run(new URL('./no-such-module.ts', import.meta.url), 'x', {})).rejects.toThrow(
      /no-such-module/,
    );
  });

  test('payload buffers are copied by default and moved with transfer: true', async () => {
    const rng = new Rng(5);
    const p = { a: randArray(6, rng), b: randArray(6, rng), m: 2, k: 3, n: 2 };
    await pool.run(TASKS, 'matMulTask', p);
    expect(p.a.length).toBe(6);
    await pool.run(TASKS, 'matMulTask', p, { transfer: true });
    expect(p.a.length).toBe(0); // detached: the buffer now belongs to the worker
  });

  test('relative module paths are rejected with a clear message', async () => {
    await expect(pool.run('./pool-tasks.ts', 'spin', { ms: 1 })).rejects.toThrow(
      /moduleUrl: expected a file: URL or an absolute path, got '.\/pool-tasks.ts'/,
    );
  });
});

describe('WorkerPool lifecycle', () => {
  test('size 1 runs tasks in this thread with the same results and errors', async () => {
    await initEngine();
    const pool = new WorkerPool({ size: 1 });
    expect(pool.usesWorkers).toBe(false);
    const ids = await pool.map<{ ms: number }, number>(TASKS, 'spin', [{ ms: 1 }, { ms: 1 }]);
    expect(ids).toEqual([0, 0]);
    await expect(pool.run(TASKS, 'failingTask', { tag: 'q' })).rejects.toThrow("failingTask: bad tag 'q'");
    await pool.close();
  });

  test('close() rejects pending tasks and later calls', async () => {
    const pool = new WorkerPool({ size: 2 });
    const pending = pool.map(TASKS, 'spin', [{ ms: 5000 }, { ms: 5000 }, { ms: 5000 }]).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await pool.close();
    expect(String(await pending)).toMatch(/closed while tasks were pending/);
    await expect(pool.map(TASKS, 'spin', [{ ms: 1 }])).rejects.toThrow(/pool is closed/);
  });
});

describe('WorkerPool from compiled JavaScript (as the CLI runs it from dist/)', () => {
  test('a plain-node process using the transpiled pool runs a .js task module in workers', () => {
    // Transpile src/errors.ts and src/engine/** to .js (as tsc does for dist/) in a temp dir inside
    // the repository, so that node_modules resolves; then run plain `node` (no tsx) on it.
    fs.mkdirSync(path.join(ROOT, '.cache'), { recursive: true });
    const out = fs.mkdtempSync(path.join(ROOT, '.cache', 'pool-js-'));
    try {
      const files = ['src/errors.ts', ...listTs(path.join(ROOT, 'src/engine')).map((f) => path.relative(ROOT, f))];
      for (const rel of files) {
        const js = ts.transpileModule(fs.readFileSync(path.join(ROOT, rel), 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
          fileName: rel,
        }).outputText;
        const dest = path.join(out, rel.replace(/\.ts$/, '.js'));
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.writeFileSync(dest, js);
      }
      fs.writeFileSync(path.join(out, 'package.json'), '{"type":"module"}');
      fs.writeFileSync(
        path.join(out, 'task.js'),
        `import * as tf from '@tensorflow/tfjs';\nimport { threadId } from 'node:worker_threads';\n` +
          `export async function sum(p) { const s = tf.tidy(() => tf.sum(tf.tensor1d(p.x)).dataSync()[0]); return { s, threadId, backend: tf.getBackend() }; }\n` +
          `export async function boom() { throw new TypeError('boom from js'); }\n`,
      );
      fs.writeFileSync(
        path.join(out, 'main.js'),
        `import { WorkerPool } from './src/engine/pool.js';\n` +
          `const pool = new WorkerPool({ size: 2 });\n` +
          `const task = new URL('./task.js', import.meta.url);\n` +
          `const r = await pool.map(task, 'sum', [{ x: new Float32Array([1, 2]) }, { x: new Float32Array([3, 4]) }, { x: new Float32Array([5]) }]);\n` +
          `let err = ''; try { await pool.run(task, 'boom', {}); } catch (e) { err = e.name + ': ' + e.message; }\n` +
          `await pool.close();\n` +
          `console.log(JSON.stringify({ r, err }));\n`,
      );
      const res = spawnSync(process.execPath, [path.join(out, 'main.js')], { encoding: 'utf8', timeout: 90_000 });
      expect(res.stderr).not.toMatch(/Error/);
      const last = res.stdout.trim().split('\n').pop()!;
      const { r, err } = JSON.parse(last) as { r: { s: number; threadId: number; backend: string }[]; err: string };
      expect(r.map((x) => x.s)).toEqual([3, 7, 5]);
      expect(r.every((x) => x.threadId > 0)).toBe(true);
      expect(err).toBe('TypeError: boom from js');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

function listTs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listTs(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}
