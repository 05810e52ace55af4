/**
 * Speed-up of WorkerPool on a CPU-bound tfjs workload: the same batch of tasks (each a chain of
 * 256×256 matMuls on the wasm backend) run in-process, on 1 worker and on 2 workers.
 *
 *   nice -n 10 npx tsx bench/pool.bench.ts [--tasks N] [--matmuls M] [--reps R]
 *
 * Reports the median wall time of a warm pool (workers already started and the task module
 * imported) and, separately, the one-off pool start-up cost. On a shared machine the 2-worker
 * figure is bounded by how many cores are actually free: the load average is printed alongside.
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { WorkerPool } from '../src/engine/pool.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** The task: `matmuls` chained 256×256 products from a seeded start; returns a checksum. */
export async function matMulChain(p: { seed: number; matmuls: number }): Promise<number> {
  return tf.tidy(() => {
    let x = tf.randomNormal([256, 256], 0, 1 / 16, 'float32', p.seed) as tf.Tensor2D;
    const w = tf.randomNormal([256, 256], 0, 1 / 16, 'float32', p.seed + 1) as tf.Tensor2D;
    for (let i = 0; i < p.matmuls; i++) x = tf.tanh(tf.matMul(x, w)) as tf.Tensor2D;
    return tf.sum(x).dataSync()[0]!;
  });
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median wall ms and median process CPU ms (all threads: main + workers) of one batch. */
async function timeMap(pool: WorkerPool, payloads: { seed: number; matmuls: number }[], reps: number) {
  const wall: number[] = [];
  const cpu: number[] = [];
  let sums: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    sums = await pool.map<{ seed: number; matmuls: number }, number>(import.meta.url, 'matMulChain', payloads);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { median: med(wall), cpu: med(cpu), sums };
}

async function main(): Promise<void> {
  const tasks = arg('--tasks', 8);
  const matmuls = arg('--matmuls', 150);
  const reps = arg('--reps', 3);
  const info = await initEngine('wasm');
  const payloads = Array.from({ length: tasks }, (_, i) => ({ seed: 10 + i, matmuls }));
  console.log('# WorkerPool speed-up (CPU-bound tfjs: chained 256×256 matMuls)');
  console.log(
    `machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, ` +
      `tfjs ${info.tfjsVersion} wasm simd=${info.simd}; ${tasks} tasks × ${matmuls} matMuls; medians of ${reps}; ` +
      `load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const rows: { name: string; startup: number; median: number; cpu: number; sums: number[] }[] = [];
  for (const [name, opts] of [
    ['in-process', { size: 1 }],
    ['1 worker', { size: 1, inProcess: false }],
    ['2 workers', { size: 2 }],
  ] as const) {
    const pool = new WorkerPool(opts);
    try {
      // Start-up: the first call spawns the workers (each initialises tfjs + wasm) and imports the task module.
      const t0 = performance.now();
      await pool.map(import.meta.url, 'matMulChain', payloads.slice(0, Math.min(tasks, pool.usesWorkers ? pool.size : 1)).map((p) => ({ ...p, matmuls: 1 })));
      const startup = performance.now() - t0;
      const { median, cpu, sums } = await timeMap(pool, payloads, reps);
      rows.push({ name, startup, median, cpu, sums });
    } finally {
      await pool.close();
    }
  }
  const base = rows[0]!;
  const same = rows.every((r) => r.sums.every((s, i) => Math.abs(s - base.sums[i]!) <= 1e-3 * Math.max(1, Math.abs(base.sums[i]!))));
  console.log(
    '| mode | pool start-up ms | batch wall ms | wall speed-up vs in-process | batch CPU ms (all threads) | CPU / wall |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.startup.toFixed(0)} | ${r.median.toFixed(0)} | ${(base.median / r.median).toFixed(2)}× | ` +
        `${r.cpu.toFixed(0)} | ${(r.cpu / r.median).toFixed(2)} |`,
    );
  }
  console.log(
    '\nCPU / wall is the number of cores the batch actually got (≤ 2 here); on an idle 2-core machine ' +
      'the 2-worker speed-up approaches 2 × (in-process CPU ms / 2-worker CPU ms).',
  );
  console.log(`\nresults identical across modes: ${same}; load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

if (isMainThread) void main();
