/** The twin defender (issue 15, item 4): a second network trained on the same clean data, and its surprise at the victim's label. */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../../src/engine/backend.js';
import { TwinDefender, weightsFingerprint } from '../../../src/defense/output/twin-defender.js';
import { PCLDetector } from '../../../src/defense/pcl.js';
import { saveModelCopy } from '../../../src/defense/latent/replica.js';
import { ArgumentError, ManifestError, NotFittedError, ShapeError } from '../../../src/errors.js';
import { Classifier } from '../../../src/models/classifier.js';
import { blobs, boundaryImages, expectSurrogateMatches, predictedLabels, tinyVictim } from '../latent/fixtures.js';

let victim: Classifier;
let twin: Classifier;
let dir: string;
beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  twin = await tinyVictim(1); // same data, another initialisation
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-twin-'));
});
afterAll(async () => {
  victim?.model.dispose();
  twin?.model.dispose();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('TwinDefender', () => {
  test("scores −log p_twin(class | x), and flags points past the victim's boundary, not clean ones", async () => {
    const train = blobs(100, 1);
    const det = await new TwinDefender(victim, twin, { sp: 1 }).fit(train.x, train.y);
    expect(det.numClasses).toBe(3);
    const test_ = blobs(40, 2);
    const cls = predictedLabels(victim, test_.x);
    const s = await det.scoreGiven(test_.x, cls);
    const p = twin.probs(test_.x);
    const probs = p.arraySync() as number[][];
    p.dispose();
    for (let i = 0; i < s.length; i++) {
      expect(s[i]).toBeCloseTo(-Math.log(probs[i]![cls[i]!]!), 3);
      expect(det.rawFromScore(s[i]!)).toBeCloseTo(probs[i]![cls[i]!]!, 4);
    }
    // the victim's own label is given when yPred is omitted
    expect(Array.from(await det.score(test_.x))).toEqual(Array.from(s));

    const edge = boundaryImages(victim, test_.x, 20);
    const flagsEdge = await det.flags(edge);
    const flagsClean = await det.flags(test_.x);
    expect(flagsEdge.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(15); // the twin doubts most of them
    expect(flagsClean.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(6); // ≈ SP = 1 % of 120, with slack

    // the surrogate reads the same score, and excess ≤ 0 exactly where nothing is flagged
    const { sur, oh } = await expectSurrogateMatches(det, victim, edge, flagsEdge);
    expect(sur.components).toEqual(['twin']);
    // and it is differentiable through the twin
    const g = tf.grad((xi: tf.Tensor) => tf.sum(sur.scores(xi as tf.Tensor4D, oh)))(edge);
    expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
    sur.dispose();
    det.dispose();
    expect(twin.model.layers.length).toBeGreaterThan(0); // a twin passed in is the caller's: not disposed
    expect(twin.predict(test_.x).dataSync().length).toBe(120);
    tf.dispose([train.x, train.y, test_.x, test_.y, edge, oh, g]);
  });

  test('beside the default defenders in a PCLDetector: saved with its own copy of the twin, loaded and checked', async () => {
    const params = { checkpoints: ['h2'], inputDefender: false, latent: { epochs: 1 } };
    const det = new PCLDetector(victim, params, [...PCLDetector.defaultDefenders(victim, params), new TwinDefender(victim, twin)]);
    expect(det.labels).toEqual(['latent:h2', 'output:twin']);
    const train = blobs(60, 3);
    await det.fit(train.x, train.y, { seed: 0 });
    const bundle = path.join(dir, 'pcl');
    await det.save(bundle);
    const back = await PCLDetector.load(bundle);
    expect(back.labels).toEqual(['latent:h2', 'output:twin']);
    const loadedTwin = back.defenders[1] as TwinDefender;
    expect(loadedTwin.twin).not.toBe(twin);
    expect(loadedTwin.params.twin).toBe(weightsFingerprint(twin.model));
    const x = blobs(10, 4).x;
    const a = await det.scoreAll(x);
    const b = await back.scoreAll(x);
    expect(Array.from(b.scores[1]!)).toEqual(Array.from(a.scores[1]!));
    expect(Array.from(back.defenders[1]!.thresholds(1))).toEqual(Array.from(det.defenders[1]!.thresholds(1)));
    back.dispose();
    expect(loadedTwin.twin.model.layers[0]!.getWeights().every((w) => w.isDisposed)).toBe(true); // loaded from the bundle: freed with it

    // a bundle whose twin copy was replaced is refused, naming the file
    const manifest = JSON.parse(await fs.readFile(path.join(bundle, 'manifest.json'), 'utf8'));
    const twinDir = path.join(bundle, manifest.attributes.defenders[1].dir, 'twin');
    const other = await tinyVictim(2);
    await saveModelCopy(other.model, twinDir);
    other.model.dispose();
    await expect(PCLDetector.load(bundle)).rejects.toThrow(ManifestError);
    await expect(PCLDetector.load(bundle)).rejects.toThrow(/twin\/model\.json: sha256 mismatch/);
    // …and one whose checksums were rewritten to match is still refused: the twin's weights are not the fitted one's
    // (the defender's manifest first: the detector's lists its checksum)
    for (const m of [path.join(bundle, manifest.attributes.defenders[1].dir, 'manifest.json'), path.join(bundle, 'manifest.json')]) {
      const j = JSON.parse(await fs.readFile(m, 'utf8'));
      for (const rel of Object.keys(j.sha256)) j.sha256[rel] = createHash('sha256').update(await fs.readFile(path.join(path.dirname(m), rel))).digest('hex');
      await fs.writeFile(m, JSON.stringify(j));
    }
    await expect(PCLDetector.load(bundle)).rejects.toThrow(/the twin in twin\/ \(weights [0-9a-f]{16}\) is not the one the bundle was fitted with/);
    tf.dispose([train.x, train.y, x]);
    det.dispose();
  });

  test('bad inputs and unfitted use are clear errors', async () => {
    expect(() => new TwinDefender(victim, victim)).toThrow(/another model than the victim/);
    expect(() => new TwinDefender(victim, twin, { sp: 101 })).toThrow(ArgumentError);
    const wide = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [5, 4, 1] }), tf.layers.dense({ units: 3 })] });
    expect(() => new TwinDefender(victim, new Classifier(wide))).toThrow(ShapeError);
    expect(() => new TwinDefender(victim, new Classifier(wide))).toThrow(/the twin takes \[5,4,1\] images into 3 classes, the victim \[4,4,1\]/);
    wide.dispose();
    const det = new TwinDefender(victim, twin);
    const x = blobs(2, 5).x;
    await expect(det.score(x)).rejects.toThrow(NotFittedError);
    await expect(det.fit(x.slice([0, 0, 0, 0], [2, -1, -1, -1]), tf.tensor1d([0, 3], 'int32'))).rejects.toThrow(/label 3 at row 1 is outside \[0, 3\)/);
    const train = blobs(20, 6);
    await det.fit(train.x, train.y);
    await expect(det.score(tf.zeros([1, 6, 6, 1]) as tf.Tensor4D)).rejects.toThrow(/expected x of shape \[n,4,4,1\]/);
    await expect(det.scoreGiven(x, Int32Array.from([0, 7, 0, 0, 0, 0]))).rejects.toThrow(/class 7 of row 1 is outside/);
    expect(() => det.trainScores(3)).toThrow(ArgumentError);
    tf.dispose([x, train.x, train.y]);
  });
});
