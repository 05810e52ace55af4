/**
 * Defects found by reading the code (issue 10, item 2), each pinned by a test that failed before its fix.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { ManifestError } from '../../src/errors.js';
import { InputDefender } from '../../src/defense/input/input-defender.js';
import { LatentDefender } from '../../src/defense/latent/latent-defender.js';
import { PCLDetector } from '../../src/defense/pcl.js';
import type { Classifier } from '../../src/models/classifier.js';
import { type Blobs, blobs, tinyVictim } from './latent/fixtures.js';

let victim: Classifier;
let train: Blobs;
let heldOut: Blobs;
const dirs: string[] = [];

beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  train = blobs(300, 31);
  heldOut = blobs(200, 32);
});

afterAll(() => {
  tf.dispose([train.x, train.y, heldOut.x, heldOut.y]);
  victim.model.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'pcl-defects-'));
  dirs.push(d);
  return d;
}

/** Drops the last weight of a bundle's manifest (weights.bin stays valid: the remaining specs are a prefix). */
function dropLastWeight(dir: string): string {
  const f = path.join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(f, 'utf8')) as { weightSpecs: { name: string }[] };
  const dropped = m.weightSpecs.pop()!.name;
  writeFileSync(f, JSON.stringify(m));
  return dropped;
}

const inputParams = { patchSize: 2, nAtoms: 6, patchesPerClass: 400, nNonzero: 2, epochs: 1, batchSize: 32, workers: 0, codes: 'omp' as const };

describe('defects of issue 10', () => {
  test('LatentDefender.fit on a defender loaded with its own victim copy keeps that victim usable', async () => {
    const det = new LatentDefender(victim, { epochs: 1, batchSize: 64 });
    await det.fit(train.x, train.y);
    const dir = path.join(tmp(), 'latent');
    await det.save(dir);
    det.dispose();
    const back = await LatentDefender.load(dir); // no victim in the context: the bundle's own copy
    try {
      await back.fit(train.x, train.y); // used to dispose the victim copy, then predict with it
      const s = await back.score(heldOut.x);
      expect(s).toHaveLength(heldOut.x.shape[0]);
      expect(s.every((v) => Number.isFinite(v))).toBe(true);
    } finally {
      back.dispose();
    }
  });

  test('PCLDetector.dispose frees the victim copy that PCLDetector.load created', async () => {
    const det = new PCLDetector(victim, { inputDefender: false, latent: { epochs: 1, batchSize: 64 }, calibrationFraction: 0.2 });
    await det.fit(train.x, train.y);
    const dir = path.join(tmp(), 'pcl');
    await det.save(dir);
    det.dispose();
    const before = tf.memory().numTensors;
    const back = await PCLDetector.load(dir);
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    back.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test("InputDefender.detect defaults to params.sp, like every other detector", async () => {
    const det = new InputDefender(victim, { ...inputParams, sp: 30 });
    await det.fit(train.x, train.y, { seed: 0 });
    expect(det.params.sp).toBe(30);
    const flags = (await det.detect(train.x)).adversarial;
    const explicit = await det.detect(train.x, undefined, 30);
    expect(Array.from(flags)).toEqual(Array.from(explicit));
    const rate = flags.reduce((a, b) => a + b, 0) / flags.length;
    expect(rate).toBeGreaterThan(0.2); // ≈ 30 % of the (mostly correctly classified) training images, not 1 %
    expect(() => new InputDefender(victim, { ...inputParams, sp: 101 })).toThrow(/'sp'/);
    det.dispose();
  });

  test('a missing weight is a ManifestError naming the weight, for every detector', async () => {
    const lat = new LatentDefender(victim, { epochs: 0 });
    await lat.fit(train.x, train.y);
    const ldir = path.join(tmp(), 'latent');
    await lat.save(ldir);
    lat.dispose();
    const lname = dropLastWeight(ldir);
    await expect(LatentDefender.load(ldir, { victim })).rejects.toThrow(ManifestError);
    await expect(LatentDefender.load(ldir, { victim })).rejects.toThrow(new RegExp(`missing weight '${lname}'`));

    const inp = new InputDefender(victim, inputParams);
    await inp.fit(train.x, train.y, { seed: 0 });
    const idir = path.join(tmp(), 'input');
    await inp.save(idir);
    inp.dispose();
    const iname = dropLastWeight(idir);
    await expect(InputDefender.load(idir, { victim })).rejects.toThrow(ManifestError);
    await expect(InputDefender.load(idir, { victim })).rejects.toThrow(new RegExp(`missing weight '${iname}'`));
  });
});
