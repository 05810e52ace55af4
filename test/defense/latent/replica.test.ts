import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import {
  buildReplica,
  chainLayers,
  defaultCheckpoint,
  disposeReplica,
  loadModelCopy,
  rescaleAfterCheckpoint,
  saveModelCopy,
} from '../../../src/defense/latent/replica.js';
import type { Classifier } from '../../../src/models/classifier.js';
import { blobs, tinyVictim } from './fixtures.js';

let victim: Classifier;
const dirs: string[] = [];

beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
});
afterAll(() => {
  victim.model.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('buildReplica', () => {
  test('features = L2-normalised victim activations; output = the next layers on them; victim untouched', async () => {
    const { x } = blobs(10, 3);
    const before = victim.model.getWeights().map((w) => w.dataSync().slice());
    const r = await buildReplica(victim.model, 'h2');
    expect(r.featureDim).toBe(6);
    expect(r.outputIsProbs).toBe(true);
    expect(r.nextKernelLayer).toBe('out');
    expect(rescaleAfterCheckpoint(r, 2.5)).toBe(true);
    const [phi, out] = r.model.predict(x) as tf.Tensor[];
    const h = victim.activations(x, 'h2');
    const [kernel, bias] = victim.model.getLayer('out').getWeights();
    const want = tf.tidy(() => {
      const n = tf.div(h, tf.norm(h, 2, 1, true));
      return { n, p: tf.softmax(tf.add(tf.matMul(tf.mul(n, 2.5), kernel), bias)) };
    });
    expect(Array.from(phi.dataSync())).toEqual(Array.from(want.n.dataSync()).map((v) => expect.closeTo(v, 5)));
    expect(Array.from(out.dataSync())).toEqual(Array.from(want.p.dataSync()).map((v) => expect.closeTo(v, 5)));
    // the victim's own weights did not change
    victim.model.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(before[i])));
    tf.dispose([x, phi, out, h, want.n, want.p]);
    disposeReplica(r);
  });

  test('building and disposing leaks nothing', async () => {
    const n0 = tf.memory().numTensors;
    disposeReplica(await buildReplica(victim.model, 'h1'));
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('rejects unknown or output layers and non-chain models', async () => {
    await expect(buildReplica(victim.model, 'zzz')).rejects.toThrow(/no layer named 'zzz'/);
    await expect(buildReplica(victim.model, 'out')).rejects.toThrow(/is the output layer/);
    expect(defaultCheckpoint(victim.model)).toBe('h2');
    const inp = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 4, name: 'a' }).apply(inp) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 4, name: 'b' }).apply(a) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'skip' }).apply([a, b]) as tf.SymbolicTensor;
    const m = tf.model({ inputs: inp, outputs: sum });
    expect(() => chainLayers(m)).toThrow(/only chain/);
    m.dispose();
  });
});

describe('saveModelCopy / loadModelCopy', () => {
  test('round trip gives the same predictions', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcl-copy-'));
    dirs.push(dir);
    expect(await saveModelCopy(victim.model, dir)).toEqual(['model.json', 'weights.bin']);
    const back = await loadModelCopy(dir);
    const { x } = blobs(5, 4);
    const a = victim.model.predict(x) as tf.Tensor;
    const b = back.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    back.dispose();
    await expect(loadModelCopy(path.join(dir, 'nope'))).rejects.toThrow(/nope\/model\.json: no such file/);
  });
});
