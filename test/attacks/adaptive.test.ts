import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FullAdaptiveAttack, chooseGuides } from '../../src/attacks/adaptive.js';
import { CarliniWagnerL2 } from '../../src/attacks/carlini-wagner-l2.js';
import { runAttack } from '../../src/attacks/registry.js';
import { loadDataset, disposeDataset, type Dataset } from '../../src/data/index.js';
import { PCLDetector } from '../../src/defense/pcl.js';
import { initEngine } from '../../src/engine/backend.js';
import { ArgumentError } from '../../src/errors.js';
import { Classifier } from '../../src/models/classifier.js';
import { trainClassifier } from '../../src/models/train.js';
import { buildModel } from '../../src/models/zoo.js';
import { renderSecurityHtml, securityMarkdown } from '../../src/eval/security-report.js';
import { runSecurityProtocol } from '../../src/pipeline/security.js';

// A small real PCL (MLP victim on 3,000 MNIST images; latent fc2 + input defender with 49-atom
// dictionaries) attacked on 10 correctly classified test images with a short schedule.
let train: Dataset;
let victim: Classifier;
let det: PCLDetector;
let x: tf.Tensor4D;
let y: Int32Array;
const SP = 5;
const SCHEDULE = { binarySteps: 4, iterations: 60, initialConst: 0.1 };

beforeAll(async () => {
  await initEngine();
  train = await loadDataset('mnist', { split: 'train', limit: 3000, seed: 1 });
  const model = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
  await trainClassifier(model, train, { epochs: 4, batchSize: 64, lr: 2e-3, seed: 0 });
  victim = new Classifier(model);
  det = new PCLDetector(victim, {
    latent: { epochs: 1 },
    input: { patchesPerClass: 3000, nAtoms: 49, workers: 1, codes: 'omp' },
    calibrationFraction: 0.2,
  });
  await det.fit(train.x, train.y, { seed: 0 });
  const t = await loadDataset('mnist', { split: 'test', limit: 40, seed: 9 });
  try {
    const pred = await victim.predict(t.x).data();
    const yy = await t.y.data();
    const keep = Array.from(pred.keys()).filter((i) => pred[i] === yy[i]).slice(0, 10);
    x = tf.gather(t.x, tf.tensor1d(keep, 'int32')) as tf.Tensor4D;
    y = Int32Array.from(keep, (i) => yy[i]);
  } finally {
    disposeDataset(t);
  }
});

afterAll(() => {
  det?.dispose();
  x?.dispose();
  if (train) disposeDataset(train);
});

/** Rows that fool the victim and that the full detector (OR rule at SP) does not flag. */
async function evading(adv: tf.Tensor4D, success: Uint8Array): Promise<{ evade: number; inputAlarms: number }> {
  const d = await det.detect(adv, { sp: SP, fusion: 'or' });
  let evade = 0;
  let inputAlarms = 0;
  for (let i = 0; i < success.length; i++) {
    if (success[i] && !d.adversarial[i]) evade++;
    if (success[i] && d.alarms[1][i]) inputAlarms++;
  }
  return { evade, inputAlarms };
}

describe('FullAdaptiveAttack', () => {
  test('the adaptive attacks evade the full detector on more rows than plain C&W, at a larger L2', async () => {
    const cw = await runAttack(new CarliniWagnerL2(SCHEDULE), victim, x, y);
    const lat = await runAttack(new FullAdaptiveAttack(det, { ...SCHEDULE, sp: SP, inputWeight: 0 }), victim, x, y);
    const full = await runAttack(new FullAdaptiveAttack(det, { ...SCHEDULE, sp: SP }), victim, x, y);
    try {
      const eCw = await evading(cw.adversarial, cw.success);
      const eLat = await evading(lat.adversarial, lat.success);
      const eFull = await evading(full.adversarial, full.success);
      // measured with this schedule: C&W 2 / 10, latent-only 9 / 10, full 8 / 10
      expect(eLat.evade).toBeGreaterThan(eCw.evade + 3);
      expect(eFull.evade).toBeGreaterThan(eCw.evade + 3);
      const mean = (a: Float32Array) => a.reduce((p, q) => p + q, 0) / a.length;
      expect(mean(full.l2)).toBeGreaterThan(mean(cw.l2));
    } finally {
      tf.dispose([cw.adversarial, lat.adversarial, full.adversarial]);
    }
  });

  test('feature attack: targets the clean guide’s class, and leaks no tensors', async () => {
    const guides = await chooseGuides(victim, x, y, { x: train.x, y: await train.y.data() });
    try {
      for (let i = 0; i < y.length; i++) expect(guides.targets[i]).not.toBe(y[i]);
      // the 3,000-image pool is classified in batches: every guide is an image the victim puts in its target class
      const gpT = victim.predict(guides.images);
      const gp = await gpT.data();
      gpT.dispose();
      expect(Array.from(gp)).toEqual(Array.from(guides.targets));
      const before = tf.memory().numTensors;
      const r = await new FullAdaptiveAttack(det, { ...SCHEDULE, sp: SP, objective: 'features' }).run(victim, x, y, { guides });
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(Array.from(r.targets!)).toEqual(Array.from(guides.targets));
      for (let i = 0; i < y.length; i++) if (r.success[i]) expect(r.predicted[i]).toBe(guides.targets[i]);
      expect(r.success.reduce((a, b) => a + b, 0)).toBeGreaterThan(y.length / 2);
      r.adversarial.dispose();
    } finally {
      guides.images.dispose();
    }
  });

  test('full adaptive leaks no tensors; names and validation', async () => {
    const a = new FullAdaptiveAttack(det, { binarySteps: 1, iterations: 5, sp: SP });
    expect(a.name).toBe('adaptive');
    expect(new FullAdaptiveAttack(det, { inputWeight: 0 }).name).toBe('adaptive-latent');
    expect(new FullAdaptiveAttack(det, { objective: 'features' }).name).toBe('feature');
    const xs = x.slice([0, 0, 0, 0], [3, -1, -1, -1]);
    const before = tf.memory().numTensors;
    const r = await a.run(victim, xs, y.subarray(0, 3));
    expect(tf.memory().numTensors).toBe(before + 1);
    r.adversarial.dispose();
    xs.dispose();
    expect(() => new FullAdaptiveAttack(det, { bogus: 1 } as never)).toThrow(/unknown parameter 'bogus'/);
    expect(() => new FullAdaptiveAttack(det, { sp: 120 })).toThrow(ArgumentError);
    await expect(new FullAdaptiveAttack(det, { objective: 'features' }).run(victim, x, y)).rejects.toThrow(/needs guides/);
  });

  test('the security protocol: every attack judged at every SP, curves by budget, rendered as the report section', async () => {
    const xs = x.slice([0, 0, 0, 0], [4, -1, -1, -1]);
    try {
      const sec = await runSecurityProtocol(det, xs, y.subarray(0, 4), {
        sps: [1, 5],
        schedule: { binarySteps: 2, iterations: 20, initialConst: 0.1 },
        guidePool: { x: train.x, y: await train.y.data() },
      });
      // the fixture has a calibrated fusion: every attack is judged under OR and under it
      expect(sec.rules).toEqual(['or', 'calibrated']);
      const or = sec.rows.filter((r) => r.rule === 'or');
      expect(or.map((r) => `${r.attack}@${r.sp}`)).toEqual(['cw-l2@1', 'cw-l2@5', 'adaptive-latent@1', 'adaptive-latent@5', 'adaptive@1', 'adaptive@5', 'feature@1', 'feature@5']);
      expect(sec.rows).toHaveLength(16);
      expect(sec.referenceL2).toBeGreaterThan(0);
      for (const r of sec.rows) {
        expect(r.evadeWithinBudget).toHaveLength(sec.budgets.length);
        expect(r.evadeWithinBudget[r.evadeWithinBudget.length - 1]).toBeLessThanOrEqual(r.evadeRate + 1e-12);
        // the curve never decreases with the budget
        for (let i = 1; i < r.evadeWithinBudget.length; i++) expect(r.evadeWithinBudget[i]).toBeGreaterThanOrEqual(r.evadeWithinBudget[i - 1]);
      }
      // plain C&W is judged at both SPs from one run: a tighter SP (5) flags at least as much as SP 1
      expect(or[1].detectionRate).toBeGreaterThanOrEqual(or[0].detectionRate);
      const html = await renderSecurityHtml(sec);
      expect(html).toMatch(/<h2>Security<\/h2>/);
      expect((html.match(/<svg/g) ?? []).length).toBe(2);
      expect(securityMarkdown(sec)).toMatch(/\| adaptive: full PCL \(latent \+ input BPDA\) \(aimed at SP 5 %\) \| SP 5 % \(or\) \|/);
    } finally {
      xs.dispose();
    }
  });
});
