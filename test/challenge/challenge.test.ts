import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { attackChallenge } from '../../src/challenge/attack.js';
import { CHALLENGE_FILES, CHALLENGE_MANIFEST, SubmissionError, readChallenge, type Challenge } from '../../src/challenge/manifest.js';
import { packChallenge } from '../../src/challenge/pack.js';
import { scoreChallenge, type Leaderboard } from '../../src/challenge/score.js';
import { BUDGET_SLACK, projectToBudget, rowNorms } from '../../src/challenge/submission.js';
import { loadDataset, disposeDataset } from '../../src/data/index.js';
import { PCLDetector } from '../../src/defense/pcl.js';
import { initEngine } from '../../src/engine/backend.js';
import { ArgumentError, ManifestError } from '../../src/errors.js';
import { encodeIdx, writeIdx } from '../../src/io/idx.js';
import { Classifier } from '../../src/models/classifier.js';
import { trainClassifier } from '../../src/models/train.js';
import { buildModel } from '../../src/models/zoo.js';

// A tiny but real challenge: an MLP trained briefly on 3,000 MNIST images, PCL (latent fc2 + input
// defender with small dictionaries), 12 rows, L2 budget 3, SP 5 %. pack → attack → score end to end,
// and every refusal of a malformed submission.
const N = 12;
const L2 = 3;
let tmp: string;
let ch: Challenge;
let chDir: string;

beforeAll(async () => {
  await initEngine();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-challenge-'));
  const train = await loadDataset('mnist', { split: 'train', limit: 3000, seed: 1 });
  try {
    const model = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    await trainClassifier(model, train, { epochs: 4, batchSize: 64, lr: 2e-3, seed: 0 });
    const det = new PCLDetector(new Classifier(model), {
      latent: { epochs: 1 },
      input: { patchesPerClass: 3000, nAtoms: 49, workers: 1, codes: 'omp' },
      calibrationFraction: 0.2,
    });
    await det.fit(train.x, train.y, { seed: 0 });
    await det.save(path.join(tmp, 'bundle'));
    det.dispose();
    model.dispose();
  } finally {
    disposeDataset(train);
  }
  chDir = path.join(tmp, 'ch');
  await packChallenge({ defender: path.join(tmp, 'bundle'), dataset: 'mnist', n: N, l2: L2, sp: 5, seed: 3, out: chDir });
  ch = await readChallenge(chDir);
});

afterAll(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** Writes `data` as IDX with `shape` into tmp and returns its path. */
async function sub(name: string, data: Float32Array | Uint8Array, shape: number[]): Promise<string> {
  const f = path.join(tmp, name);
  await writeIdx(f, data, shape);
  return f;
}

const SIZE = 28 * 28;

describe('challenge pack', () => {
  test('freezes correctly classified, seeded rows, the budget and the SP, every file sha256-listed', async () => {
    const m = ch.manifest;
    expect(m).toMatchObject({ format: 'pcl-challenge', n: N, imageShape: [28, 28, 1], numClasses: 10, budget: { l2: L2, linf: null }, sp: 5, dataset: 'mnist', seed: 3 });
    // the bundle's own decision rule is frozen with the challenge
    expect(m.fusion).toBe((await PCLDetector.load(path.join(tmp, 'bundle'))).params.fusion);
    expect(Object.keys(m.sha256)).toEqual(expect.arrayContaining([CHALLENGE_FILES.xClean, CHALLENGE_FILES.yTrue, CHALLENGE_FILES.cleanIndex, 'detector/manifest.json', 'detector/victim/model.json']));
    expect(new Set(ch.indices).size).toBe(N);
    // rows are the test images they claim to be, with their true labels
    const test_ = await loadDataset('mnist', { split: 'test' });
    try {
      const xs = (await test_.x.data()) as Float32Array;
      const ys = await test_.y.data();
      for (let i = 0; i < N; i++) {
        expect(ch.yTrue[i]).toBe(ys[ch.indices[i]]);
        expect(Array.from(ch.xClean.subarray(i * SIZE, (i + 1) * SIZE))).toEqual(Array.from(xs.subarray(ch.indices[i] * SIZE, (ch.indices[i] + 1) * SIZE)));
      }
    } finally {
      disposeDataset(test_);
    }
    // the clean rows themselves fool nothing: every one is correctly classified
    const clean = await scoreChallenge({ challenge: chDir, submission: await sub('clean.idx', ch.xClean, [N, 28, 28, 1]) });
    expect(clean.fooledRate).toBe(0);
    expect(clean.successes).toBe(0);
  });

  test('same seed, same rows; another seed, other rows', async () => {
    const again = path.join(tmp, 'ch-again');
    const other = path.join(tmp, 'ch-other');
    await packChallenge({ defender: path.join(tmp, 'bundle'), dataset: 'mnist', n: 5, l2: 1, sp: 5, seed: 3, out: again });
    await packChallenge({ defender: path.join(tmp, 'bundle'), dataset: 'mnist', n: 5, l2: 1, sp: 5, seed: 4, out: other });
    expect(Array.from((await readChallenge(again)).indices)).toEqual(Array.from(ch.indices.subarray(0, 5)));
    expect(Array.from((await readChallenge(other)).indices)).not.toEqual(Array.from(ch.indices.subarray(0, 5)));
  });

  test('rejects bad arguments by name', async () => {
    await expect(packChallenge({ defender: path.join(tmp, 'bundle'), dataset: 'mnist', n: 0, l2: 1, sp: 5, out: path.join(tmp, 'x') })).rejects.toThrow(/expected n a positive integer, got 0/);
    await expect(packChallenge({ defender: path.join(tmp, 'bundle'), dataset: 'mnist', n: 3, l2: -1, sp: 5, out: path.join(tmp, 'x') })).rejects.toThrow(/expected l2 a positive number, got -1/);
    await expect(packChallenge({ defender: path.join(tmp, 'bundle'), dataset: 'mnist', n: 3, l2: 1, sp: 120, out: path.join(tmp, 'x') })).rejects.toThrow(/expected sp a percentage/);
    expect(existsSync(path.join(tmp, 'x'))).toBe(false);
  });

  test('a tampered, extended or edited challenge folder is refused, naming the file', async () => {
    const copy = path.join(tmp, 'ch-tampered');
    await fs.cp(chDir, copy, { recursive: true });
    const f = path.join(copy, CHALLENGE_FILES.xClean);
    const buf = await fs.readFile(f);
    buf[buf.length - 1] ^= 1;
    await fs.writeFile(f, buf);
    await expect(readChallenge(copy)).rejects.toThrow(new RegExp(`${CHALLENGE_FILES.xClean}: sha256 mismatch`));
    await fs.cp(chDir, copy, { recursive: true, force: true });
    await fs.writeFile(path.join(copy, 'extra.txt'), 'x');
    await expect(readChallenge(copy)).rejects.toThrow(/extra.txt: not listed/);
    await fs.rm(path.join(copy, 'extra.txt'));
    const m = JSON.parse(await fs.readFile(path.join(copy, CHALLENGE_MANIFEST), 'utf8'));
    m.budget.l2 = 100;
    await fs.writeFile(path.join(copy, CHALLENGE_MANIFEST), JSON.stringify(m));
    await expect(readChallenge(copy)).rejects.toThrow(ManifestError);
    await expect(readChallenge(copy)).rejects.toThrow(/field 'id' does not match/);
  });
});

describe('challenge score refuses malformed submissions, naming the first offending rows, and writes nothing', () => {
  const lbFile = () => path.join(tmp, 'refusals-leaderboard.json');
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['wrong dtype', () => sub('u8.idx', new Uint8Array(N * SIZE), [N, 28, 28, 1]), /expected IDX float32 values, got uint8/],
    ['wrong shape', () => sub('shape.idx', new Float32Array(N * SIZE), [N, 784, 1, 1]), /expected shape \[12,28,28,1\].*got \[12,784,1,1\]/],
    ['wrong row count', () => sub('rows.idx', ch.xClean.slice(0, (N - 1) * SIZE), [N - 1, 28, 28, 1]), /expected 12 rows .*got 11/],
    [
      'NaN',
      () => {
        const x = ch.xClean.slice();
        x[3 * SIZE + 10] = NaN;
        x[7 * SIZE] = Infinity;
        return sub('nan.idx', x, [N, 28, 28, 1]);
      },
      /NaN or infinite values in rows 3, 7$/,
    ],
    [
      'out of range',
      () => {
        const x = ch.xClean.slice();
        x[5 * SIZE + 1] = 1.5;
        x[9 * SIZE + 2] = -0.01;
        return sub('range.idx', x, [N, 28, 28, 1]);
      },
      /values outside \[0, 1\] in rows 5, 9$/,
    ],
    [
      'over the L2 budget',
      () => {
        const x = ch.xClean.slice();
        // row 2: a perturbation of L2 = budget + 1e-3 on pixels far from the bounds' reach
        for (let j = 0; j < SIZE; j++) x[2 * SIZE + j] = 0.5;
        return sub('budget.idx', x, [N, 28, 28, 1]);
      },
      /L2 perturbation over the budget 3 in row 2 \(row 2: /,
    ],
    [
      'truncated file',
      async () => {
        const bytes = encodeIdx(ch.xClean, [N, 28, 28, 1]);
        const f = path.join(tmp, 'trunc.idx');
        await fs.writeFile(f, bytes.subarray(0, bytes.length - 100));
        return f;
      },
      /trunc.idx: truncated IDX file/,
    ],
    ['missing file', async () => path.join(tmp, 'nope.idx'), /nope.idx/],
  ];
  test.each(cases)('%s', async (_name, make, re) => {
    const f = await make();
    const err = await scoreChallenge({ challenge: chDir, submission: f, leaderboard: lbFile() }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(SubmissionError);
    expect((err as Error).message).toMatch(re);
    expect(existsSync(lbFile())).toBe(false);
  });

  test('the budget check has only float32 slack: a row at budget + 2·slack is refused, one at the budget passes', async () => {
    const x = ch.xClean.slice();
    const y = ch.xClean.slice();
    // spread the perturbation over every pixel of row 0, in the direction that stays in [0, 1]
    const dir = Float32Array.from({ length: SIZE }, (_, j) => (ch.xClean[j] > 0.5 ? -1 : 1));
    const unit = Math.sqrt(SIZE);
    for (let j = 0; j < SIZE; j++) {
      x[j] = ch.xClean[j] + (dir[j] * (L2 + 2 * BUDGET_SLACK + 1e-5)) / unit;
      y[j] = ch.xClean[j] + (dir[j] * L2 * (1 - 1e-6)) / unit;
    }
    await expect(scoreChallenge({ challenge: chDir, submission: await sub('over.idx', x, [N, 28, 28, 1]) })).rejects.toThrow(/over the budget 3 in row 0 /);
    const ok = await scoreChallenge({ challenge: chDir, submission: await sub('at.idx', y, [N, 28, 28, 1]) });
    expect(ok.rows[0].l2).toBeCloseTo(L2, 4);
  });
});

describe('projectToBudget', () => {
  test('clips to L∞, scales to L2, keeps [0, 1], leaves rows in budget alone', () => {
    const clean = Float32Array.from([0, 0.5, 1, 0.2, 0.2, 0.2]);
    const adv = Float32Array.from([1, 1, 0, 0.25, 0.2, 0.2]);
    const changed = projectToBudget(adv, clean, 2, 3, { l2: 0.5, linf: 0.4 });
    expect(changed).toEqual([0]);
    const n = rowNorms(adv, clean, 2, 3);
    expect(n.l2[0]).toBeLessThanOrEqual(0.5);
    expect(n.l2[0]).toBeGreaterThan(0.4999);
    expect(n.linf[0]).toBeLessThanOrEqual(0.4 + 1e-7);
    expect(Array.from(adv.subarray(3))).toEqual(Array.from(Float32Array.from([0.25, 0.2, 0.2])));
    for (const v of adv) expect(v >= 0 && v <= 1).toBe(true);
  });
});

describe('pack → attack → score end to end', () => {
  test('C&W on the challenge rows gives a valid submission; the score agrees with the victim and the detector; the leaderboard grows atomically', async () => {
    const out = path.join(tmp, 'cw');
    const s = await attackChallenge({ challenge: chDir, attack: 'cw-l2', params: { binarySteps: 4, iterations: 60, initialConst: 0.1 }, out });
    expect(s.n).toBe(N);
    expect(s.successRate).toBeGreaterThan(0.5); // C&W fools this victim on most rows within L2 3
    const lb = path.join(tmp, 'leaderboard.json');
    const e = await scoreChallenge({ challenge: chDir, submission: s.submission, leaderboard: lb, name: 'cw-l2' });
    expect(e.name).toBe('cw-l2');
    expect(e.challenge).toBe(ch.manifest.id);
    expect(e.rows).toHaveLength(N);
    // fooled rate = the attack's own (re-verified) success rate on the projected rows
    expect(e.fooledRate).toBeCloseTo(s.successRate, 10);
    for (const r of e.rows) {
      expect(r.success).toBe(r.fooled && !r.alarm);
      expect(r.l2).toBeLessThanOrEqual(L2 + BUDGET_SLACK);
    }
    expect(e.successRate).toBe(e.rows.filter((r) => r.success).length / N);
    // independent check of the alarms with the detector itself
    const det = await PCLDetector.load(ch.detectorDir);
    const adv = (await import('../../src/io/idx.js')).readIdx;
    const a = await adv(s.submission);
    const tf = await import('@tensorflow/tfjs');
    const xt = tf.tensor4d(a.data as Float32Array, [N, 28, 28, 1]);
    try {
      const d = await det.detect(xt, { sp: 5, fusion: ch.manifest.fusion as 'or' | 'calibrated' });
      expect(e.rows.map((r) => r.alarm)).toEqual(Array.from(d.adversarial, (v) => v === 1));
      expect(e.rows.map((r) => r.predicted)).toEqual(Array.from(d.yPred));
    } finally {
      xt.dispose();
      det.dispose();
    }
    // a second entry appends; a leaderboard of another challenge is refused
    await scoreChallenge({ challenge: chDir, submission: s.submission, leaderboard: lb, name: 'again' });
    const board = JSON.parse(await fs.readFile(lb, 'utf8')) as Leaderboard;
    expect(board.entries.map((q) => q.name)).toEqual(['cw-l2', 'again']);
    const foreign = path.join(tmp, 'foreign.json');
    await fs.writeFile(foreign, JSON.stringify({ format: 'pcl-leaderboard', challenge: 'other', entries: [] }));
    await expect(scoreChallenge({ challenge: chDir, submission: s.submission, leaderboard: foreign })).rejects.toThrow(ArgumentError);
    expect(JSON.parse(await fs.readFile(foreign, 'utf8')).entries).toEqual([]);
  });
});

// the real `pcl` binary (compiled dist/, as users run it; `npm test` builds it first)
const root = fileURLToPath(new URL('../..', import.meta.url));
async function pcl(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await promisify(execFile)(process.execPath, [path.join(root, 'bin/pcl.js'), '--quiet', ...args], { cwd: root, maxBuffer: 64 << 20 });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

describe('pcl challenge / pcl attack --challenge (CLI)', () => {
  test('attack the rows with the full adaptive attack, score with a leaderboard; a malformed submission exits 1 with one line and writes nothing', async () => {
    if (!existsSync(path.join(root, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    const out = path.join(tmp, 'cli-adaptive');
    const a = await pcl(['attack', '--challenge', chDir, '--attack', 'adaptive', '--binary-steps', '2', '--iterations', '30', '--initial-c', '0.1', '--out', out]);
    expect(a.code, a.stderr).toBe(0);
    const summary = JSON.parse(a.stdout);
    expect(summary).toMatchObject({ attack: 'adaptive', n: N, challenge: ch.manifest.id });
    expect(summary.params.sp).toBe(5); // aimed at the challenge's SP by default
    const lb = path.join(tmp, 'cli-leaderboard.json');
    const s = await pcl(['challenge', 'score', '--challenge', chDir, '--submission', summary.submission, '--leaderboard', lb, '--name', 'adaptive', '--brief']);
    expect(s.code, s.stderr).toBe(0);
    const e = JSON.parse(s.stdout);
    expect(e).toMatchObject({ name: 'adaptive', n: N, sp: 5 });
    expect(e.rows).toBeUndefined();
    expect(JSON.parse(await fs.readFile(lb, 'utf8')).entries).toHaveLength(1);
    const bad = ch.xClean.slice();
    bad[4 * SIZE] = NaN;
    const f = await sub('cli-nan.idx', bad, [N, 28, 28, 1]);
    const r = await pcl(['challenge', 'score', '--challenge', chDir, '--submission', f, '--leaderboard', lb]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^pcl: .*cli-nan.idx: NaN or infinite values in row 4/);
    expect(JSON.parse(await fs.readFile(lb, 'utf8')).entries).toHaveLength(1);
    const h = await pcl(['challenge', 'pack', '--help']);
    expect(h.stdout).toMatch(/--l2 <b>/);
    const m = await pcl(['attack', '--attack', 'adaptive', '--dataset', 'mnist', '--out', path.join(tmp, 'x')]);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/--attack adaptive needs --defender DIR/);
  });
});

