/**
 * The demo's use of pcl-defense, apart from the page: start the wasm engine (wasm files served by
 * Vite), load a bundle by URL / IndexedDB / zip, check that it guards this page's victim, and run
 * verdicts and attacks. bench.ts uses the same functions.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import {
  CarliniWagnerL2,
  FGSM,
  initEngine,
  loadModelFromStore,
  openBundle,
  PCLDetector,
  readStoreJson,
  runAttack,
  sha256Hex,
  type BundleLocation,
  type EngineInfo,
  type PCLDetection,
} from 'pcl-defense';

/** A message for the page (bad input, wrong bundle): shown as is. */
export class DemoError extends Error {}

/** Where the demo's files are, relative to the page. */
export const VICTIM_URL = new URL('models/mnist/victim/', document.baseURI).href;
export const BUNDLE_URL = new URL('models/mnist/pcl/manifest.json', document.baseURI).href;

/** Starts TensorFlow.js on the wasm backend, its .wasm files served by Vite from this build. */
export async function startEngine(): Promise<EngineInfo> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  return initEngine('wasm');
}

/** The page's victim: the model `pcl train` wrote, loaded the usual tfjs way, and the sha256 of its weights. */
export async function loadVictim(): Promise<{ model: tf.LayersModel; weightsSha: string }> {
  // the usual tfjs layers files (what tf.loadLayersModel(url) reads), each fetched once
  const store = openBundle(VICTIM_URL);
  const model = await loadModelFromStore(store);
  return { model, weightsSha: await sha256Hex(await store.read('weights.bin')) };
}

interface BundleManifestView {
  name?: string;
  sha256?: Record<string, string>;
}

/**
 * Loads a PCL bundle from `where` after checking that it guards this page's victim (a bundle made
 * for another model would score nonsense): same input shape, same weights (sha256 of the bundle's
 * victim copy). `PCLDetector.load` then verifies every file's sha256.
 */
export async function loadGuard(where: BundleLocation, victimWeightsSha: string): Promise<PCLDetector> {
  // one cached store for these checks and the load: every file is fetched once
  const store = openBundle(where, 'bundle');
  const manifest = await readStoreJson<BundleManifestView>(store, 'manifest.json');
  if (manifest.name !== 'PCLDetector') {
    throw new DemoError(`${store.describe('manifest.json')}: this is a '${manifest.name ?? '?'}' bundle; the demo needs a PCLDetector bundle (pcl defend)`);
  }
  const victimJson = await readStoreJson<{ modelTopology?: { config?: { layers?: { config?: { batch_input_shape?: number[] } }[] } } }>(store, 'victim/model.json');
  const shape = victimJson.modelTopology?.config?.layers?.[0]?.config?.batch_input_shape?.slice(1);
  if (shape && shape.join('x') !== '28x28x1') {
    throw new DemoError(`${store.location}: this bundle guards a victim taking ${shape.join('×')} images; this page's victim takes 28×28×1 digits (a bundle made for another victim)`);
  }
  const theirs = manifest.sha256?.['victim/weights.bin'];
  if (theirs !== victimWeightsSha) {
    throw new DemoError(
      `${store.location}: this bundle was made for another victim (its victim's weights have sha256 ${String(theirs).slice(0, 12)}…, this page's victim ${victimWeightsSha.slice(0, 12)}…)`,
    );
  }
  return PCLDetector.load(store);
}

/** One verdict: the victim's probabilities and PCL's detection of a single 28×28 image. */
export interface Verdict {
  probs: Float32Array;
  detection: PCLDetection;
}

export async function verdict(det: PCLDetector, px: Float32Array, sp: number, fusion: 'or' | 'calibrated'): Promise<Verdict> {
  const x = tf.tensor4d(px, [1, 28, 28, 1]);
  try {
    const p = det.victim.probs(x);
    const probs = new Float32Array(await p.data());
    p.dispose();
    return { probs, detection: await det.detect(x, { sp, fusion }) };
  } finally {
    x.dispose();
  }
}

export type AttackName = 'fgsm' | 'cw';

/** An attack on one image and what the victim and PCL make of the result. */
export interface AttackOutcome {
  adversarial: Float32Array;
  success: boolean;
  l2: number;
  linf: number;
  seconds: number;
}

/** Runs FGSM (L∞ budget `eps`) or C&W L2 (5 × 100) against the victim, in the page. */
export async function attack(det: PCLDetector, px: Float32Array, label: number, which: AttackName, eps = 0.2): Promise<AttackOutcome> {
  const x = tf.tensor4d(px, [1, 28, 28, 1]);
  const t0 = performance.now();
  try {
    const a = which === 'fgsm' ? new FGSM({ eps }) : new CarliniWagnerL2({ confidence: 0, binarySteps: 5, iterations: 100 });
    const r = await runAttack(a, det.victim, x, [label]);
    try {
      return {
        adversarial: new Float32Array(await r.adversarial.data()),
        success: r.success[0] === 1,
        l2: r.l2[0],
        linf: r.linf[0],
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      r.adversarial.dispose();
    }
  } finally {
    x.dispose();
  }
}
