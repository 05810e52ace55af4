/**
 * Browser bench page (driven by bench/browser.bench.ts through playwright-core): the same engine
 * start and bundle load as the demo, then guarded-inference latency and throughput next to the bare
 * victim, and memory after many verdicts. Results on `window.__benchResult`.
 */
import * as tf from '@tensorflow/tfjs';
import { BUNDLE_URL, loadGuard, loadVictim, startEngine } from './guard.js';

interface BenchOptions {
  /** MNIST test digits, uint8 [n·784], fetched from this URL. */
  dataUrl: string;
  /** Single-image timings (each a full verdict: tensor in, awaited result out). */
  singles: number;
  /** Batch size and repetitions of the throughput runs. */
  batch: number;
  batchReps: number;
  /** Verdicts before the memory reading. */
  memoryVerdicts: number;
  /** 'wasm' (the library's engine) or 'webgl' (stock tfjs kernels; no replacement kernels). */
  backend: 'wasm' | 'webgl';
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function heapBytes(): number | null {
  const m = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
  return m ? m.usedJSHeapSize : null;
}

async function run(o: BenchOptions): Promise<Record<string, unknown>> {
  const tStart = performance.now();
  const engine = await startEngine();
  if (o.backend === 'webgl') {
    if (!(await tf.setBackend('webgl'))) throw new Error('webgl backend did not initialise');
    await tf.ready();
  }
  const tEngine = performance.now();
  const victim = await loadVictim();
  const det = await loadGuard(BUNDLE_URL, victim.weightsSha);
  const tLoaded = performance.now();
  const res = await fetch(o.dataUrl);
  const raw = new Uint8Array(await res.arrayBuffer());
  const n = raw.length / 784;
  const all = tf.tidy(() => tf.div(tf.tensor4d(raw, [n, 28, 28, 1], 'int32').toFloat(), 255) as tf.Tensor4D);
  const one = (i: number) => tf.slice(all, [i % n, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;

  // first verdict (page-ready moment of the demo: engine + victim + bundle + one verdict)
  const x0 = one(0);
  const first = await det.detect(x0);
  x0.dispose();
  const tFirst = performance.now();

  // warm-up
  for (let i = 0; i < 20; i++) {
    const x = one(i);
    await det.detect(x);
    const p = victim.model.predict(x) as tf.Tensor;
    await p.data();
    tf.dispose([x, p]);
  }

  const bare: number[] = [];
  const guarded: number[] = [];
  let flagged = 0;
  for (let i = 0; i < o.singles; i++) {
    const x = one(i);
    let t = performance.now();
    const p = victim.model.predict(x) as tf.Tensor;
    await p.data();
    bare.push(performance.now() - t);
    p.dispose();
    t = performance.now();
    const r = await det.detect(x);
    guarded.push(performance.now() - t);
    flagged += r.adversarial[0];
    x.dispose();
  }

  const xb = tf.slice(all, [0, 0, 0, 0], [Math.min(o.batch, n), -1, -1, -1]) as tf.Tensor4D;
  const bareB: number[] = [];
  const guardedB: number[] = [];
  for (let r = 0; r < o.batchReps; r++) {
    let t = performance.now();
    const p = victim.model.predict(xb) as tf.Tensor;
    await p.data();
    bareB.push(performance.now() - t);
    p.dispose();
    t = performance.now();
    await det.detect(xb);
    guardedB.push(performance.now() - t);
  }
  xb.dispose();

  // memory: tensors and bytes before/after `memoryVerdicts` single-image verdicts
  const m0 = tf.memory();
  const h0 = heapBytes();
  for (let i = 0; i < o.memoryVerdicts; i++) {
    const x = one(i);
    await det.detect(x);
    x.dispose();
  }
  const m1 = tf.memory();
  const h1 = heapBytes();
  const wasmHeap = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? null;

  const out = {
    backend: tf.getBackend(),
    simd: engine.simd,
    tfjs: engine.tfjsVersion,
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    defenders: det.defenders.map((d) => d.label),
    msEngine: tEngine - tStart,
    msLoadVictimAndBundle: tLoaded - tEngine,
    msFirstVerdictSinceNavigation: tFirst,
    firstVerdictAdversarial: first.adversarial[0],
    singles: o.singles,
    bareMedianMs: median(bare),
    guardedMedianMs: median(guarded),
    guardedP90Ms: [...guarded].sort((a, b) => a - b)[Math.floor(0.9 * guarded.length)],
    cleanFlaggedRate: flagged / o.singles,
    batch: o.batch,
    bareBatchImagesPerS: (o.batch / median(bareB)) * 1000,
    guardedBatchImagesPerS: (o.batch / median(guardedB)) * 1000,
    memoryVerdicts: o.memoryVerdicts,
    tensorsBefore: m0.numTensors,
    tensorsAfter: m1.numTensors,
    tensorBytesBefore: m0.numBytes,
    tensorBytesAfter: m1.numBytes,
    jsHeapBefore: h0,
    jsHeapAfter: h1,
    wasmHeapBytes: wasmHeap,
  };
  all.dispose();
  det.dispose();
  victim.model.dispose();
  return out;
}

(window as unknown as { __bench: typeof run }).__bench = run;
document.getElementById('status')!.dataset.ready = '1';
