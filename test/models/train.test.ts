import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { ArgumentError } from '../../src/errors.js';
import { disposeDataset } from '../../src/data/types.js';
import { augmentBatch, crossEntropy, evaluateAccuracy, insertBatchNorm, scheduledLr, trainClassifier, trainVictim } from '../../src/models/train.js';
import { loadClassifier } from '../../src/models/io.js';
import { writeIdx } from '../../src/io/idx.js';
import { buildModel } from '../../src/models/zoo.js';
import { Rng } from '../../src/util/rng.js';
import { makeTinyDataset, makeTinyModel } from '../fixtures/tiny-model.js';

beforeAll(async () => {
  await initEngine();
});

describe('crossEntropy', () => {
  test('matches a hand computation', () => {
    const p = tf.tensor2d([
      [0.7, 0.2, 0.1],
      [0.25, 0.25, 0.5],
    ]);
    const y = tf.tensor1d([0, 2], 'int32');
    const ce = crossEntropy(p, y);
    expect(ce.dataSync()[0]).toBeCloseTo(-(Math.log(0.7) + Math.log(0.5)) / 2, 6);
    [p, y, ce].forEach((t) => t.dispose());
  });
});

describe('scheduledLr', () => {
  test('constant and cosine', () => {
    expect(scheduledLr('constant', 0.1, 7, 10)).toBe(0.1);
    expect(scheduledLr('cosine', 0.1, 0, 10)).toBeCloseTo(0.1, 12);
    expect(scheduledLr('cosine', 0.1, 5, 10)).toBeCloseTo(0.05, 12);
    expect(scheduledLr('cosine', 0.1, 10, 10)).toBeCloseTo(0, 12);
    expect(() => scheduledLr('step' as 'cosine', 0.1, 0, 1)).toThrow(/lrSchedule: expected 'constant' or 'cosine', got 'step'/);
  });

  test('cosine actually changes the optimizer step size', async () => {
    // with 1 batch per epoch and 2 epochs, the cosine lr is lr at step 0 and lr·½(1+cos(π/2)) = lr/2 at step 1
    const ds = makeTinyDataset(8);
    const mk = () => buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 3, seed: 2 });
    const a = mk();
    const b = mk();
    await trainClassifier(a, ds, { epochs: 2, batchSize: 8, lr: 0.01, optimizer: 'sgd', lrSchedule: 'cosine' });
    await trainClassifier(b, ds, { epochs: 2, batchSize: 8, lr: 0.01, optimizer: 'sgd' });
    const w = (m: tf.LayersModel) => Array.from(m.getLayer('fc3').getWeights()[1].dataSync());
    expect(w(a)).not.toEqual(w(b));
    [a, b].forEach((m) => m.dispose());
    disposeDataset(ds);
  });
});

describe('evaluateAccuracy', () => {
  test('the fixed tiny model is perfect on its data, in any batch size', () => {
    const m = makeTinyModel();
    const ds = makeTinyDataset(31);
    expect(evaluateAccuracy(m, ds.x, ds.y, 7)).toBe(1);
    const wrong = tf.tidy(() => tf.sub(2, ds.y).toInt()) as tf.Tensor1D; // 0↔2 swapped, 1 stays
    expect(evaluateAccuracy(m, ds.x, wrong)).toBeCloseTo(10 / 31, 10);
    wrong.dispose();
    disposeDataset(ds);
    m.dispose();
  });
});

describe('trainClassifier', () => {
  test('learns the tiny task from scratch, reproducibly, without leaking tensors', async () => {
    const train = makeTinyDataset(240, 1);
    const test_ = makeTinyDataset(90, 2);
    const run = async () => {
      const m = buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 3, seed: 3 });
      const before = tf.memory().numTensors;
      const logs: number[] = [];
      const r = await trainClassifier(m, train, {
        epochs: 4,
        batchSize: 32,
        lr: 0.01,
        seed: 9,
        validation: test_,
        onEpoch: (l) => {
          logs.push(l.epoch);
        },
      });
      expect(tf.memory().numTensors).toBe(before);
      return { m, r, logs };
    };
    const a = await run();
    const b = await run();
    expect(a.logs).toEqual([1, 2, 3, 4]);
    expect(a.r.history).toHaveLength(4);
    expect(a.r.history[3].batches).toBe(8);
    expect(a.r.history[3].valAccuracy).toBeGreaterThan(0.95);
    expect(a.r.history[3].loss).toBeLessThan(a.r.history[0].loss);
    // same seeds → same losses and weights
    expect(b.r.history.map((h) => h.loss)).toEqual(a.r.history.map((h) => h.loss));
    expect(Array.from(b.m.getLayer('fc3').getWeights()[0].dataSync())).toEqual(
      Array.from(a.m.getLayer('fc3').getWeights()[0].dataSync()),
    );
    a.m.dispose();
    b.m.dispose();
    disposeDataset(train);
    disposeDataset(test_);
  });

  test('trains only its own model (another model\'s variables stay put)', async () => {
    const other = makeTinyModel();
    const ref = Array.from(other.getLayer('fc1').getWeights()[0].dataSync());
    const m = buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 3, seed: 1 });
    const ds = makeTinyDataset(32);
    await trainClassifier(m, ds, { epochs: 1, batchSize: 16, lr: 0.1 });
    expect(Array.from(other.getLayer('fc1').getWeights()[0].dataSync())).toEqual(ref);
    [m, other].forEach((x) => x.dispose());
    disposeDataset(ds);
  });

  test('rejects bad options and mismatched data', async () => {
    const m = buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 3 });
    const ds = makeTinyDataset(8);
    await expect(trainClassifier(m, ds, { epochs: 0, batchSize: 4, lr: 1 })).rejects.toThrow(/epochs: expected a positive integer, got 0/);
    await expect(trainClassifier(m, ds, { epochs: 1, batchSize: 4, lr: -1 })).rejects.toThrow(ArgumentError);
    await expect(
      trainClassifier(m, ds, { epochs: 1, batchSize: 4, lr: 1, optimizer: 'rmsprop' as 'adam' }),
    ).rejects.toThrow(/optimizer: expected 'adam', 'sgd' or 'momentum', got 'rmsprop'/);
    const m2 = buildModel('mnist-mlp', { inputShape: [5, 5, 1], numClasses: 3 });
    await expect(trainClassifier(m2, ds, { epochs: 1, batchSize: 4, lr: 1 })).rejects.toThrow(
      /model input \[5,5,1\] does not match images \[4,4,1\]/,
    );
    [m, m2].forEach((x) => x.dispose());
    disposeDataset(ds);
  });
});

describe('augmentBatch', () => {
  test('crop shifts each image by whole pixels inside the zero padding; flip mirrors', () => {
    // image i holds the values 1..16 (row-major) so every output pixel identifies its source
    const x = tf.tidy(() => tf.tile(tf.range(1, 17).reshape([1, 4, 4, 1]), [6, 1, 1, 1])) as tf.Tensor4D;
    const cropped = augmentBatch(x, { crop: 1 }, new Rng(0));
    const c = cropped.arraySync() as number[][][][];
    let shifted = 0;
    for (const img of c) {
      // find the shift (dy, dx) in [-1, 1]² that explains the image exactly
      const fits = [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => [dy, dx])).filter(([dy, dx]) =>
        img.every((row, r) =>
          row.every((px, col) => {
            const sr = r + dy;
            const sc = col + dx;
            const want = sr >= 0 && sr < 4 && sc >= 0 && sc < 4 ? sr * 4 + sc + 1 : 0;
            return Math.abs(px[0] - want) < 1e-5;
          }),
        ),
      );
      expect(fits.length).toBe(1);
      if (fits[0][0] !== 0 || fits[0][1] !== 0) shifted++;
    }
    expect(shifted).toBeGreaterThan(0);
    const flipped = augmentBatch(x, { flip: true }, new Rng(1));
    const f = flipped.arraySync() as number[][][][];
    const orig = (x.arraySync() as number[][][][])[0];
    const mirror = orig.map((row) => [...row].reverse());
    const kinds = f.map((img) => (JSON.stringify(img) === JSON.stringify(orig) ? 'same' : JSON.stringify(img) === JSON.stringify(mirror) ? 'mirror' : 'other'));
    expect(kinds).not.toContain('other');
    expect(kinds).toContain('mirror');
    expect(kinds).toContain('same');
    [x, cropped, flipped].forEach((t) => t.dispose());
  });
});

/** Writes a 3-class 4×4 dataset (300 training, 90 test images) as an `idx:DIR` folder. */
async function writeTinyIdx(dataDir: string): Promise<void> {
  for (const [stem, n, seed] of [['train', 300, 1], ['t10k', 90, 2]] as const) {
    const ds = makeTinyDataset(n, seed);
    const px = Uint8Array.from(ds.x.dataSync(), (v) => Math.round(v * 255));
    await writeIdx(path.join(dataDir, `${stem}-images-idx3-ubyte`), px, [n, 4, 4]);
    await writeIdx(path.join(dataDir, `${stem}-labels-idx1-ubyte.gz`), Uint8Array.from(ds.y.dataSync()), [n]);
    disposeDataset(ds);
  }
}

describe('trainVictim', () => {
  test('idx:DIR end to end, saving after every epoch with complete:false until the last', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-victim-'));
    try {
      await writeTinyIdx(path.join(dir, 'data'));
      const out = path.join(dir, 'model');
      const seen: Array<{ epochs: number; complete: unknown }> = [];
      const metrics = await trainVictim({
        dataset: `idx:${path.join(dir, 'data')}`,
        arch: 'mnist-mlp',
        out,
        epochs: 3,
        batchSize: 30,
        lr: 0.01,
        seed: 4,
        saveEachEpoch: true,
        onEpoch: async (log) => {
          if (log.epoch < 3) {
            const { model, metrics: m } = await loadClassifier(out);
            seen.push({ epochs: m.epochs, complete: m.complete });
            model.dispose();
          }
        },
      });
      expect(seen).toEqual([
        { epochs: 1, complete: false },
        { epochs: 2, complete: false },
      ]);
      expect(metrics).toMatchObject({ epochs: 3, complete: true, dataset: `idx:${path.join(dir, 'data')}`, numClasses: 3, lrSchedule: 'constant' });
      expect(metrics.testAccuracy).toBeGreaterThan(0.9);
      const { model, metrics: saved } = await loadClassifier(out);
      expect(saved.testAccuracy).toBe(metrics.testAccuracy);
      expect((saved.history as unknown[]).length).toBe(3);
      model.dispose();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('init: warm start copies the folder\'s weights, records it, and refuses mismatches', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-warm-'));
    try {
      await writeTinyIdx(path.join(dir, 'data'));
      const dataset = `idx:${path.join(dir, 'data')}`;
      const first = path.join(dir, 'first');
      const m1 = await trainVictim({ dataset, arch: 'mnist-mlp', out: first, epochs: 2, batchSize: 30, lr: 0.01, seed: 4 });
      // a tiny learning rate: the continued model must still be the first one, which a fresh start is not
      const cont = path.join(dir, 'cont');
      const m2 = await trainVictim({ dataset, arch: 'mnist-mlp', out: cont, epochs: 1, batchSize: 30, lr: 1e-9, seed: 5, init: first });
      expect(m2.initFrom).toMatchObject({ dir: first, epochs: 2, testAccuracy: m1.testAccuracy, lr: 0.01, seed: 4 });
      expect(m2.testAccuracy).toBe(m1.testAccuracy);
      const a = await loadClassifier(first);
      const b = await loadClassifier(cont);
      const wa = a.model.getWeights().map((t) => Array.from(t.dataSync()));
      const wb = b.model.getWeights().map((t) => Array.from(t.dataSync()));
      expect(wb.length).toBe(wa.length);
      for (let i = 0; i < wa.length; i++) for (let j = 0; j < wa[i].length; j++) expect(Math.abs(wb[i][j] - wa[i][j])).toBeLessThan(1e-5);
      a.model.dispose();
      b.model.dispose();
      const fresh = await trainVictim({ dataset, arch: 'mnist-mlp', out: path.join(dir, 'fresh'), epochs: 1, batchSize: 30, lr: 1e-9, seed: 5 });
      expect(fresh.testAccuracy).not.toBe(m1.testAccuracy);
      // the starting folder was trained with another width: refused before training, naming the folder
      const mfile = path.join(first, 'metrics.json');
      const meta = JSON.parse(await fs.readFile(mfile, 'utf8')) as Record<string, unknown>;
      await fs.writeFile(mfile, JSON.stringify({ ...meta, width: 0.5 }));
      await expect(trainVictim({ dataset, arch: 'mnist-mlp', out: path.join(dir, 'x'), epochs: 1, init: first })).rejects.toThrow(
        /init: .*first was trained with width 0\.5/,
      );
      await expect(trainVictim({ dataset, arch: 'mnist-mlp', out: first, epochs: 1, init: first })).rejects.toThrow(ArgumentError);
      await expect(fs.stat(path.join(dir, 'x'))).rejects.toThrow();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('insertBatchNorm', () => {
  test('the batch-normalised copy computes the same function in inference mode, and starts training near it', () => {
    const opts = { inputShape: [16, 16, 3] as [number, number, number], numClasses: 4, width: 0.04 };
    const src = buildModel('cifar-cnn', { ...opts, seed: 1 });
    // non-zero biases, so the betas must carry them
    const conv = src.layers.filter((l) => l.getClassName() === 'Conv2D');
    for (const l of conv) {
      const [k, b] = l.getWeights();
      l.setWeights([k!, tf.randomUniform(b!.shape, -0.3, 0.3, 'float32', 5)]);
    }
    const dst = buildModel('cifar-cnn', { ...opts, seed: 2, batchNorm: true });
    const calib = tf.randomUniform([64, 16, 16, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const x = tf.randomUniform([10, 16, 16, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const before = tf.max(tf.abs(tf.sub(src.predict(x) as tf.Tensor, dst.predict(x) as tf.Tensor))).dataSync()[0]!;
    insertBatchNorm(src, dst, calib);
    const pa = src.predict(x) as tf.Tensor;
    const pb = dst.predict(x) as tf.Tensor;
    expect(before).toBeGreaterThan(1e-3); // the fresh model differed
    expect(tf.max(tf.abs(tf.sub(pa, pb))).dataSync()[0]).toBeLessThan(1e-5);
    // training mode on the calibration batch itself uses the same statistics: the same function there too
    const ta = src.apply(calib, { training: true }) as tf.Tensor;
    const tb = dst.apply(calib, { training: true }) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(ta, tb))).dataSync()[0]).toBeLessThan(1e-4);
    // a model without the source's layers is refused, naming what is missing
    const other = buildModel('mnist-mlp', { inputShape: [16, 16, 3], numClasses: 4 });
    expect(() => insertBatchNorm(other, dst, calib)).toThrow(/no Conv2D layer 'conv1'/);
    tf.dispose([calib, x, pa, pb, ta, tb]);
    for (const m of [src, dst, other]) m.dispose();
  });
});

describe('foldBatchNorm', () => {
  test('the folded CNN (no batch-norm layers) predicts what the batch-normalised one does in inference mode', async () => {
    const { foldBatchNorm, hasBatchNorm } = await import('../../src/models/fold.js');
    for (const arch of ['cifar-cnn', 'imagenet-alexnet'] as const) {
      const opts = { inputShape: (arch === 'cifar-cnn' ? [16, 16, 3] : [64, 64, 3]) as [number, number, number], numClasses: 5, width: 0.05 };
      const bn = buildModel(arch, { ...opts, batchNorm: true, seed: 3 });
      // non-trivial statistics and affine parameters, as after training
      let k = 10;
      for (const l of bn.layers.filter((q) => q.getClassName() === 'BatchNormalization')) {
        const c = l.getWeights()[0]!.shape[0]!;
        l.setWeights([
          tf.randomUniform([c], 0.5, 2, 'float32', k++),
          tf.randomUniform([c], -0.5, 0.5, 'float32', k++),
          tf.randomUniform([c], -0.2, 0.2, 'float32', k++),
          tf.randomUniform([c], 0.01, 0.5, 'float32', k++),
        ]);
      }
      const folded = foldBatchNorm(bn, arch, 0.05);
      expect(hasBatchNorm(bn)).toBe(true);
      expect(hasBatchNorm(folded)).toBe(false);
      expect(folded.layers.length).toBeLessThan(bn.layers.length);
      expect(folded.getLayer('fc2')).toBeDefined();
      const x = tf.randomUniform([8, ...opts.inputShape], 0, 1, 'float32', 99);
      const a = bn.predict(x) as tf.Tensor;
      const b = folded.predict(x) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
      // refuses another architecture, naming the missing layer
      expect(() => foldBatchNorm(bn, arch === 'cifar-cnn' ? 'imagenet-alexnet' : 'cifar-cnn', 0.05)).toThrow(ArgumentError);
      tf.dispose([x, a, b]);
      bn.dispose();
      folded.dispose();
    }
  });
});
