/**
 * Browser bench (issue 14, must-be-true 5): in headless Debian chromium (playwright-core), the demo's
 * MNIST victim and PCL bundle, built by Vite and served from local files on 127.0.0.1:
 *  - guarded-inference latency per image (median, p90) and batch throughput, next to the bare victim
 *    measured in the same page (ratio);
 *  - bytes to first verdict: every byte the page fetched up to its first verdict (JS + wasm + bundle),
 *    counted by the local server;
 *  - page ready: navigation start → engine up, victim + bundle loaded and verified, first verdict;
 *  - memory after N single-image verdicts (tfjs tensors/bytes before and after; JS heap).
 * Backends: wasm (the library's engine) and webgl (stock tfjs kernels; only if it initialises headless).
 *
 *   npx tsx bench/browser.bench.ts [--singles 300] [--batch 100] [--reps 5] [--verdicts 1000] [--backends wasm,webgl]
 *
 * Prints a markdown table and the raw JSON (with machine and versions) on stdout.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../src/data/index.js';
import { buildDemo, DEMO, DEMO_BUNDLE, DEMO_DIST, findChromium, launchChromium, NO_CHROMIUM_MESSAGE, ROOT, serveDir } from '../test/browser/harness.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const chromiumPath = findChromium();
  if (!chromiumPath) throw new Error(NO_CHROMIUM_MESSAGE);
  if (!existsSync(DEMO_BUNDLE)) {
    const r = spawnSync('bash', [path.join(DEMO, 'make-bundle.sh')], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('demo/make-bundle.sh failed');
  }
  process.stderr.write('building the demo with Vite…\n');
  await buildDemo();
  const n = 1000;
  const test_ = await loadDataset('mnist', { split: 'test', limit: n, seed: 11 });
  const u8 = Uint8Array.from(await test_.x.data(), (v) => Math.round(v * 255));
  tf.dispose([test_.x, test_.y]);

  const opts = {
    dataUrl: '/bench-data/mnist-test-1000.u8',
    singles: Number(arg('singles', '300')),
    batch: Number(arg('batch', '100')),
    batchReps: Number(arg('reps', '5')),
    memoryVerdicts: Number(arg('verdicts', '1000')),
  };
  const backends = arg('backends', 'wasm,webgl').split(',');
  const browser = await launchChromium(chromiumPath);
  const version = browser.version();
  const results: Record<string, unknown>[] = [];
  try {
    for (const backend of backends) {
      const server = await serveDir(DEMO_DIST, { '/bench-data/mnist-test-1000.u8': u8 });
      const page = await browser.newPage();
      try {
        // bytes to first verdict: the demo page itself, from navigation to "ready" (its first verdict is the load)
        if (backend === 'wasm') {
          const t0 = Date.now();
          await page.goto(`${server.url}/index.html`);
          await page.waitForSelector('#status[data-state="ready"]', { timeout: 120_000 });
          const readyMs = Number(await page.locator('body').getAttribute('data-ready-ms'));
          const nav = await page.evaluate(() => performance.now());
          const by = { js: 0, wasm: 0, bundle: 0, other: 0 };
          for (const [p, b] of server.bytes) {
            if (p.endsWith('.js')) by.js += b;
            else if (p.endsWith('.wasm')) by.wasm += b;
            else if (p.startsWith('/models/')) by.bundle += b;
            else by.other += b;
          }
          results.push({ what: 'demo page', readyMsInPage: readyMs, wallMsToReady: Date.now() - t0, pageNowAtReady: nav, bytes: by, files: Object.fromEntries(server.bytes) });
          server.bytes.clear();
        }
        await page.goto(`${server.url}/bench.html`);
        await page.waitForSelector('#status[data-ready="1"]');
        process.stderr.write(`bench page, backend ${backend}…\n`);
        const r = await page.evaluate((o) => (window as any).__bench(o), { ...opts, backend });
        results.push({ what: 'bench', ...r });
      } catch (e) {
        results.push({ what: 'bench', backend, error: (e as Error).message.split('\n')[0] });
      } finally {
        await page.close();
        await server.close();
      }
    }
  } finally {
    await browser.close();
  }
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, load: os.loadavg().map((l) => l.toFixed(2)), node: process.version, chromium: version, tfjs: tf.version.tfjs };
  console.log(JSON.stringify({ machine, opts, results }, null, 2));
}

main().catch((e) => {
  console.error(`browser.bench: ${(e as Error).message}`);
  process.exit(1);
});
