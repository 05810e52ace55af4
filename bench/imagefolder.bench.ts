/**
 * Load time of an image-folder dataset (`imagenet10:DIR`, JPEG via jpeg-js): median seconds to load
 * a split into a tensor, against two references measured in the same run: reading the same files'
 * bytes only (the disk part), and loading CIFAR-10's test split (10,000 images, binary records).
 *
 *   nice -n 5 npx tsx bench/imagefolder.bench.ts [--dir ../shared/data/imagenet10] [--cifar ../shared/data/cifar10] [--reps 3]
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { initEngine, tf } from '../src/engine/backend.js';
import { disposeDataset, listImageFolder, loadDataset } from '../src/data/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const DIR = arg('--dir', '../shared/data/imagenet10');
const CIFAR = arg('--cifar', '../shared/data/cifar10');
const REPS = Number(arg('--reps', '3'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}

const engine = await initEngine();
console.log(
  `machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}; ` +
    `node ${process.version}, tfjs ${engine.tfjsVersion} (${engine.backend}); reps ${REPS} (median)`,
);
const rows: string[] = [];
for (const split of ['train', 'test'] as const) {
  const files = (await listImageFolder(DIR, split, undefined)).files;
  const readS = await timeIt(async () => {
    for (let i = 0; i < files.length; i += 64) await Promise.all(files.slice(i, i + 64).map((f) => fs.readFile(f.file)));
  });
  const loadS = await timeIt(async () => {
    const ds = await loadDataset(`imagenet10:${DIR}`, { split });
    disposeDataset(ds);
  });
  rows.push(
    `| imagenet10 ${split} | ${files.length} | ${loadS.toFixed(2)} | ${((1000 * loadS) / files.length).toFixed(2)} | ${readS.toFixed(2)} (files read only) | ${(loadS / readS).toFixed(1)}× |`,
  );
}
const cifarS = await timeIt(async () => {
  const ds = await loadDataset(`cifar10:${CIFAR}`, { split: 'test' });
  disposeDataset(ds);
});
rows.push(`| cifar10 test (reference) | 10000 | ${cifarS.toFixed(2)} | ${((1000 * cifarS) / 10000).toFixed(2)} | | |`);
console.log('| split | images | load s (median) | ms / image | reference s | load / reference |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`tensors left: ${tf.memory().numTensors}`);
