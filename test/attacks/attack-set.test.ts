import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { ATTACK_SET_FILES, generateAttackSet, readAttackSet } from '../../src/attacks/attack-set.js';
import { attackParamsFromOptions } from '../../src/cli/commands/attack.js';
import { buildProgram } from '../../src/cli/main.js';
import { readIdx, writeIdx } from '../../src/io/idx.js';
import { loadClassifier, saveClassifier } from '../../src/models/io.js';
import { Classifier } from '../../src/models/classifier.js';
import { blobs, trainedBlobModel } from './fixtures.js';

await initEngine();

describe('attack sets (pcl attack)', () => {
  let dir: string;
  let modelDir: string;
  let dataDir: string;
  let testLabels: Uint8Array;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-attack-'));
    modelDir = path.join(dir, 'victim');
    dataDir = path.join(dir, 'data');
    const clf = await trainedBlobModel();
    await saveClassifier(modelDir, clf.model, { testAccuracy: 1, epochs: 40, seconds: 0 });
    // the blobs as an IDX dataset (uint8 pixels)
    for (const [split, seed, n] of [['train', 3, 30], ['t10k', 17, 40]] as const) {
      const { x, y } = blobs(n, seed);
      const px = Uint8Array.from(await x.data(), (v) => Math.round(v * 255));
      await writeIdx(path.join(dataDir, `${split}-images-idx3-ubyte`), px, [3 * n, 4, 4]);
      await writeIdx(path.join(dataDir, `${split}-labels-idx1-ubyte`), Uint8Array.from(y), [3 * n]);
      if (split === 't10k') testLabels = Uint8Array.from(y);
      x.dispose();
    }
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('pcl attack writes the INTERFACE.md files for the correctly classified test images', async () => {
    const out = path.join(dir, 'fgsm');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let printedLine: string;
    try {
      await buildProgram().parseAsync(
        ['attack', '--model', modelDir, '--dataset', `idx:${dataDir}`, '--attack', 'fgsm', '--eps', '0.3', '--n', '50', '--batch-size', '16', '--out', out],
        { from: 'user' },
      );
      printedLine = String(write.mock.calls[0][0]);
    } finally {
      write.mockRestore();
    }
    const printed = JSON.parse(printedLine);
    const set = await readAttackSet(out);
    const s = set.summary;
    expect(printed.successRate).toBe(s.successRate);
    expect(s).toMatchObject({ attack: 'fgsm', params: { eps: 0.3 }, nDrawn: 50, onlyCorrect: true });
    for (const k of ['n', 'successRate', 'meanL2', 'meanLinf', 'seconds']) expect(typeof (s as any)[k]).toBe('number');
    expect(s.n).toBe(Math.round(s.cleanAccuracy * 50));
    expect(set.x.shape).toEqual([s.n, 4, 4, 1]);
    expect((await readIdx(path.join(out, ATTACK_SET_FILES.xAdv))).dtype).toBe('float32');
    expect((await readIdx(path.join(out, ATTACK_SET_FILES.yTrue))).dtype).toBe('uint8');
    expect((await readIdx(path.join(out, ATTACK_SET_FILES.cleanIndex))).dtype).toBe('int32');
    for (let i = 0; i < s.n; i++) expect(set.y[i]).toBe(testLabels[set.indices[i]]);
    expect(s.meanLinf).toBeLessThanOrEqual(0.3 + 1e-6);
    expect(s.successRate).toBeGreaterThan(0.3);
    expect((await fs.readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    set.x.dispose();
  });

  test('JSMA sets record the target policy; --all attacks every drawn image', async () => {
    const s = await generateAttackSet({
      model: modelDir,
      dataset: `idx:${dataDir}`,
      attack: 'jsma',
      params: { gamma: 0.5, target: 'next' },
      n: 20,
      all: true,
      out: path.join(dir, 'jsma'),
    });
    expect(s.n).toBe(20);
    expect(s.onlyCorrect).toBe(false);
    expect(s.targetPolicy).toMatch(/^next/);
    const set = await readAttackSet(path.join(dir, 'jsma'));
    expect(set.summary).toEqual(JSON.parse(JSON.stringify(s)));
    set.x.dispose();
  });

  test('--quantize-adversarial: the written images are on the 8-bit grid, and success and labels are theirs', async () => {
    // DeepFool stops just past the boundary: rounding undoes some of its successes
    const common = { model: modelDir, dataset: `idx:${dataDir}`, attack: 'deepfool', params: { overshoot: 0 }, n: 40 };
    const float = await generateAttackSet({ ...common, out: path.join(dir, 'df-float') });
    const q = await generateAttackSet({ ...common, quantizeAdversarial: 8, out: path.join(dir, 'df-q8') });
    expect(q.quantizedBits).toBe(8);
    expect(float.quantizedBits).toBeUndefined();
    expect(q.n).toBe(float.n);
    const set = await readAttackSet(path.join(dir, 'df-q8'));
    const v = await set.x.data();
    for (const u of v) expect(Math.abs(u * 255 - Math.round(u * 255))).toBeLessThan(1e-3);
    // success and y_adv are the victim's verdict on the written (rounded) images
    const clf = await loadClassifier(modelDir);
    const pred = new Classifier(clf.model).predict(set.x);
    const p = await pred.data();
    const success = (await readIdx(path.join(dir, 'df-q8', ATTACK_SET_FILES.success))).data;
    const yAdv = (await readIdx(path.join(dir, 'df-q8', ATTACK_SET_FILES.yAdv))).data;
    for (let i = 0; i < set.y.length; i++) {
      expect(yAdv[i]).toBe(p[i]);
      expect(success[i]).toBe(p[i] !== set.y[i] ? 1 : 0);
    }
    expect(q.successRate).toBeLessThan(float.successRate);
    tf.dispose([set.x, pred]);
    clf.model.dispose();
    await expect(generateAttackSet({ ...common, quantizeAdversarial: 0 })).rejects.toThrow(/attack: quantizeAdversarial \(bits\) must be an integer in \[1, 16\], got 0/);
  });

  test('a whole attack-set run frees every tensor it makes', async () => {
    const run = () => generateAttackSet({ model: modelDir, dataset: `idx:${dataDir}`, attack: 'deepfool', n: 10 });
    await run();
    const before = tf.memory().numTensors;
    await run();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a worker pool gives the same attack set as one thread', async () => {
    const common = { model: modelDir, dataset: `idx:${dataDir}`, attack: 'deepfool', n: 20, batchSize: 8 };
    const serial = await generateAttackSet({ ...common, out: path.join(dir, 'df1') });
    const pooled = await generateAttackSet({ ...common, workers: 2, out: path.join(dir, 'df2') });
    expect(pooled.workers).toBe(2);
    expect(pooled.successRate).toBe(serial.successRate);
    const [a, b] = [await readAttackSet(path.join(dir, 'df1')), await readAttackSet(path.join(dir, 'df2'))];
    expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
    expect(Array.from(await b.x.data())).toEqual(Array.from(await a.x.data()));
    tf.dispose([a.x, b.x]);
  });

  test('options of another attack are rejected with a one-line reason', async () => {
    expect(() => attackParamsFromOptions('deepfool', { eps: 0.1 })).toThrow(/--eps does not apply to --attack deepfool \(it is an option of fgsm, bim, pgd-l2\)/);
    expect(attackParamsFromOptions('cw-l2', { initialC: 0.01, abortEarly: false })).toEqual({ initialConst: 0.01, abortEarly: false });
    expect(attackParamsFromOptions('cw', { abortScope: 'batch' })).toEqual({ abortScope: 'batch' });
    expect(() => attackParamsFromOptions('adaptive', { abortScope: 'batch' })).toThrow(/--abort-scope does not apply to --attack adaptive/);
    await expect(
      generateAttackSet({ model: path.join(dir, 'nope'), dataset: `idx:${dataDir}`, attack: 'fgsm' }),
    ).rejects.toThrow(/nope: no such folder/);
  });
});
