/** The output margin defender (issue 15, item 4): the victim's logit margin as a checkpoint at the output. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../../src/engine/backend.js';
import { MarginDefender } from '../../../src/defense/output/margin-defender.js';
import { PCLDetector } from '../../../src/defense/pcl.js';
import { ArgumentError, NotFittedError, ShapeError } from '../../../src/errors.js';
import type { Classifier } from '../../../src/models/classifier.js';
import { blobs, boundaryImages, expectSurrogateMatches, predictedLabels, tinyVictim } from '../latent/fixtures.js';

let victim: Classifier;
let dir: string;
beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-margin-'));
});
afterAll(async () => {
  victim?.model.dispose();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** −(z_k − max_{j≠k} z_j) from the victim's logits, computed here independently of the defender. */
function expectedScores(x: tf.Tensor4D, classes: Int32Array): number[] {
  const z = victim.logits(x);
  const rows = z.arraySync() as number[][];
  z.dispose();
  return rows.map((r, s) => Math.max(...r.filter((_, j) => j !== classes[s])) - r[classes[s]!]!);
}

describe('MarginDefender', () => {
  test('scores minus the logit margin of the given class, and flags boundary points, not clean ones', async () => {
    const train = blobs(100, 1);
    const det = await new MarginDefender(victim, { sp: 1 }).fit(train.x, train.y);
    expect(det.numClasses).toBe(3);
    const test_ = blobs(40, 2);
    const cls = predictedLabels(victim, test_.x);
    const s = await det.scoreGiven(test_.x, cls);
    const want = expectedScores(test_.x, cls);
    for (let i = 0; i < s.length; i++) expect(s[i]).toBeCloseTo(want[i]!, 4);
    // under its own prediction the margin is positive; the raw score is the margin itself
    expect(Math.max(...s)).toBeLessThanOrEqual(0);
    expect(det.rawFromScore(s[0]!)).toBeCloseTo(-s[0]!, 6);
    // under another class the score is positive (the image is on the far side of that class's boundary)
    const other = Int32Array.from(cls, (c) => (c + 1) % 3);
    expect(Math.min(...(await det.scoreGiven(test_.x, other)))).toBeGreaterThan(0);

    const edge = boundaryImages(victim, test_.x, 20);
    expect(edge.shape[0]).toBe(20);
    const flagsEdge = await det.flags(edge);
    const flagsClean = await det.flags(test_.x);
    expect(flagsEdge.reduce((a, b) => a + b, 0)).toBe(20);
    expect(flagsClean.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(6); // ≈ SP = 1 % of 120, with slack
    // clean training scores: sorted per class, only the correctly classified
    const t0 = det.trainScores(0);
    for (let i = 1; i < t0.length; i++) expect(t0[i]).toBeGreaterThanOrEqual(t0[i - 1]!);

    // the surrogate reads the same score, and excess ≤ 0 exactly where nothing is flagged
    const { sur, oh } = await expectSurrogateMatches(det, victim, edge, flagsEdge);
    sur.dispose();
    tf.dispose([train.x, train.y, test_.x, test_.y, edge, oh]);
    det.dispose();
  });

  test('PCLDetector adds it only when asked, and it survives save and load', async () => {
    expect(new PCLDetector(victim, { checkpoints: ['h2'] }).labels).toEqual(['latent:h2', 'input']);
    const det = new PCLDetector(victim, { checkpoints: ['h2'], inputDefender: false, marginDefender: true, latent: { epochs: 1 } });
    expect(det.labels).toEqual(['latent:h2', 'output:margin']);
    const train = blobs(60, 3);
    await det.fit(train.x, train.y, { seed: 0 });
    const bundle = path.join(dir, 'pcl');
    await det.save(bundle);
    const back = await PCLDetector.load(bundle);
    expect(back.labels).toEqual(['latent:h2', 'output:margin']);
    const x = blobs(10, 4).x;
    const a = await det.scoreAll(x);
    const b = await back.scoreAll(x);
    expect(Array.from(b.scores[1]!)).toEqual(Array.from(a.scores[1]!));
    expect(Array.from(back.defenders[1]!.thresholds(1))).toEqual(Array.from(det.defenders[1]!.thresholds(1)));
    tf.dispose([train.x, train.y, x]);
    det.dispose();
    back.dispose();
  });

  test('bad inputs and unfitted use are clear errors', async () => {
    expect(() => new MarginDefender(victim, { sp: 101 })).toThrow(ArgumentError);
    expect(() => new MarginDefender(victim, { batchSize: 0 })).toThrow(ArgumentError);
    const det = new MarginDefender(victim);
    const x = blobs(2, 5).x;
    await expect(det.score(x)).rejects.toThrow(NotFittedError);
    await expect(det.fit(tf.zeros([2, 5, 4, 1]) as tf.Tensor4D, tf.tensor1d([0, 0], 'int32'))).rejects.toThrow(ShapeError);
    await expect(det.fit(x.slice([0, 0, 0, 0], [2, -1, -1, -1]), tf.tensor1d([0, 3], 'int32'))).rejects.toThrow(/label 3 at row 1 is outside \[0, 3\)/);
    const train = blobs(20, 6);
    await det.fit(train.x, train.y);
    await expect(det.score(tf.zeros([1, 6, 6, 1]) as tf.Tensor4D)).rejects.toThrow(/expected x of shape \[n,4,4,1\]/);
    await expect(det.scoreGiven(x, Int32Array.from([0, 7, 0, 0, 0, 0]))).rejects.toThrow(/class 7 of row 1 is outside/);
    expect(() => det.trainScores(3)).toThrow(ArgumentError);
    tf.dispose([x, train.x, train.y]);
  });
});
