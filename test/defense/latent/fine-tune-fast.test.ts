/**
 * The latent replica of a batch-normalised CNN fine-tunes on the fused batch-norm chain
 * (`layerChain`); these tests hold it to the tfjs-layers path: same loss terms, same weights, same
 * moving averages after the same steps, on every engine.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import { buildReplica, disposeReplica } from '../../../src/defense/latent/replica.js';
import { fineTuneReplica, type EpochLog } from '../../../src/defense/latent/fine-tune.js';
import { LATENT_DEFAULTS, type LatentDefenderParams } from '../../../src/defense/latent/params.js';
import { layerChain } from '../../../src/models/bn-chain.js';
import { buildModel } from '../../../src/models/zoo.js';
import { Rng } from '../../../src/util/rng.js';
import { ENGINES, expectClose, useEngine } from '../../fixtures/engines.js';

const N = 48;
const K = 10;

function data(): { x: tf.Tensor4D; y: tf.Tensor1D; yTrue: Int32Array } {
  const rng = new Rng(5);
  const yTrue = Int32Array.from({ length: N }, (_, i) => i % K);
  // class-dependent means so the replica has something to fit
  const x = Float32Array.from({ length: N * 16 * 16 * 3 }, (_, j) => {
    const s = Math.floor(j / (16 * 16 * 3));
    return Math.min(1, Math.max(0, 0.3 + 0.04 * yTrue[s]! * ((j % 3) - 1) + 0.2 * rng.normal()));
  });
  return { x: tf.tensor4d(x, [N, 16, 16, 3]), y: tf.tensor1d(yTrue, 'int32'), yTrue };
}

function victim(): tf.LayersModel {
  return buildModel('cifar-cnn', { inputShape: [16, 16, 3], numClasses: K, width: 0.05, batchNorm: true, seed: 3 });
}

async function fineTune(checkpoint: string, fast: boolean): Promise<{ log: EpochLog[]; weights: Float32Array[]; phi: Float32Array }> {
  const v = victim();
  const r = await buildReplica(v, checkpoint);
  const { x, y, yTrue } = data();
  const params: LatentDefenderParams = { ...LATENT_DEFAULTS, checkpointLayer: checkpoint, epochs: 2, batchSize: 16, lr: 1e-3, scoreBatchSize: 64 };
  try {
    // the fast run must really take the fused chain (else the comparison below compares a path with itself)
    expect(layerChain(r.chain, { tap: r.normalizeLayer }) !== undefined).toBe(true);
    const log = await fineTuneReplica(r, x, y, yTrue, K, params, { fastBatchNorm: fast, progress: false });
    const weights = r.model.weights.map((w) => w.read().dataSync() as Float32Array);
    const phi = tf.tidy(() => (r.model.predict(x) as tf.Tensor[])[0]!.dataSync() as Float32Array);
    return { log, weights, phi };
  } finally {
    tf.dispose([x, y]);
    disposeReplica(r);
    v.dispose();
  }
}

beforeAll(async () => {
  await initEngine();
});

describe.each(ENGINES)('replica fine-tuning on the fused batch-norm chain, %s', (eng) => {
  useEngine(eng);
  afterAll(async () => {
    await initEngine();
  });

  // a checkpoint after a fused batch norm + ReLU, at the batch norm itself (the ReLU must not join it), and a dense one
  test.each(['conv2_relu', 'conv3_bn', 'fc2'])('checkpoint %s: same losses, weights and moving averages as tfjs-layers', async (checkpoint) => {
    const n0 = tf.memory().numTensors;
    const fast = await fineTune(checkpoint, true);
    const slow = await fineTune(checkpoint, false);
    expect(tf.memory().numTensors).toBe(n0);
    expect(fast.log).toHaveLength(2);
    for (const [a, b] of fast.log.map((e, i) => [e, slow.log[i]!] as const)) {
      expectClose([a.ce, a.condense, a.spread, a.sphere, a.accuracy], [b.ce, b.condense, b.spread, b.sphere, b.accuracy], 2e-3);
    }
    // every weight, the moving means and variances included, ends where the layers path ends
    expect(fast.weights).toHaveLength(slow.weights.length);
    fast.weights.forEach((w, i) => expectClose(w, slow.weights[i]!, 2e-3));
    expectClose(fast.phi, slow.phi, 2e-3);
    // and the fine-tuning moved them (a test that cannot pass on an untouched replica)
    const v = victim();
    const r = await buildReplica(v, checkpoint);
    const before = r.model.weights.map((w) => w.read().dataSync() as Float32Array);
    disposeReplica(r);
    v.dispose();
    const moved = before.some((w, i) => w.some((val, j) => Math.abs(val - fast.weights[i]![j]!) > 1e-4));
    expect(moved).toBe(true);
  });
});

describe('layerChain', () => {
  test('applies to batch-normalised replicas only, and needs the tap to be one of its layers', async () => {
    const v = victim();
    const r = await buildReplica(v, 'conv1_relu');
    expect(layerChain(r.chain, { tap: r.normalizeLayer })?.batchNorms).toBe(3);
    expect(layerChain(r.chain, { tap: 'nope' })).toBeUndefined();
    disposeReplica(r);
    v.dispose();
    const plain = buildModel('cifar-cnn', { inputShape: [16, 16, 3], numClasses: K, width: 0.05 });
    const rp = await buildReplica(plain, 'fc1');
    expect(layerChain(rp.chain, { tap: rp.normalizeLayer })).toBeUndefined();
    disposeReplica(rp);
    plain.dispose();
  });
});
