import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeIdx } from '../../src/io/idx.js';
import { Rng } from '../../src/util/rng.js';

// End-to-end smoke of the real `pcl` binary (the compiled dist/, as users run it): train a victim on an
// MNIST slice, fit PCL, detect on IDX and PNG inputs, evaluate with two attacks, and check the
// one-line errors. `npm test` builds dist/ before running the unit tests.
const exec = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = path.join(root, 'bin/pcl.js');

async function pcl(args: string[], quiet = true): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await exec(process.execPath, [bin, ...(quiet ? ['--quiet'] : []), ...args], { cwd: root, maxBuffer: 64 << 20, env: { ...process.env, PCL_WORKERS: '2' } });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

let dir: string;
beforeAll(async () => {
  if (!existsSync(path.join(root, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-e2e-'));
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('pcl end to end on an MNIST slice', () => {
  test('train → defend → detect → evaluate', async () => {
    const victim = path.join(dir, 'victim');
    const t = await pcl(['train', '--dataset', 'mnist', '--arch', 'mnist-mlp', '--out', victim, '--epochs', '2', '--limit', '4000', '--seed', '1']);
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout).testAccuracy).toBeGreaterThan(0.85); // chance: 0.10

    const bundle = path.join(dir, 'pcl');
    const d = await pcl([
      'defend', '--model', victim, '--dataset', 'mnist', '--out', bundle, '--limit', '3000',
      '--latent-epochs', '1', '--patches-per-class', '2000', '--dictionary-size', '100', '--sp', '1',
    ]);
    expect(d.code, d.stderr).toBe(0);
    const summary = JSON.parse(d.stdout);
    // MNIST-like victim: the recommended settings (fc1 + fc2, overlapping patches every 2 pixels, 10 atoms)
    expect(summary.defenders.map((q: { label: string }) => q.label)).toEqual(['latent:fc1', 'latent:fc2', 'input']);
    expect(existsSync(path.join(bundle, 'manifest.json'))).toBe(true);
    const manifest = JSON.parse(await fs.readFile(path.join(bundle, 'manifest.json'), 'utf8'));
    expect(manifest.params.input).toMatchObject({ stride: 2, nNonzero: 10, nAtoms: 100 });

    // noise images as IDX float32: nearly all flagged; raw scores present
    const rng = new Rng(5);
    const noise = Float32Array.from({ length: 20 * 28 * 28 }, () => rng.next());
    await writeIdx(path.join(dir, 'noise.idx'), noise, [20, 28, 28, 1]);
    const r = await pcl(['detect', '--defender', bundle, '--input', path.join(dir, 'noise.idx')]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.total).toBe(20);
    expect(out.flagged).toBeGreaterThanOrEqual(19);
    expect(out.results[0]).toMatchObject({ index: 0, adversarial: true });
    expect(typeof out.results[0].scores.latent.fc2).toBe('number');
    expect(typeof out.results[0].scores.inputPsnr).toBe('number');

    // a folder of PNGs (a blank image and a noise image)
    const pngDir = path.join(dir, 'pngs');
    await fs.mkdir(pngDir);
    for (const [name, fill] of [['a-blank.png', () => 0], ['b-noise.png', () => Math.floor(rng.next() * 256)]] as const) {
      const png = new PNG({ width: 28, height: 28 });
      for (let i = 0; i < 28 * 28; i++) {
        const v = fill();
        png.data.set([v, v, v, 255], 4 * i);
      }
      await fs.writeFile(path.join(pngDir, name), PNG.sync.write(png));
    }
    const p = await pcl(['detect', '--defender', bundle, '--input', pngDir]);
    expect(p.code, p.stderr).toBe(0);
    const po = JSON.parse(p.stdout);
    expect(po.total).toBe(2);
    expect(po.results[1].adversarial).toBe(true);

    // evaluate: two cheap attacks on 60 test images
    const ev = path.join(dir, 'eval');
    const e = await pcl(['evaluate', '--defender', bundle, '--dataset', 'mnist', '--n', '60', '--attacks', 'fgsm,deepfool', '--quick', '--no-baselines', '--out', ev]);
    expect(e.code, e.stderr).toBe(0);
    const results = JSON.parse(await fs.readFile(path.join(ev, 'results.json'), 'utf8'));
    expect(results.groups.map((g: { group: string }) => g.group)).toEqual(['FGSM', 'DeepFool']);
    const fgsm = results.groups[0].detectors.find((q: { detector: string }) => q.detector === 'PCL latent OR input');
    expect(fgsm.auroc).toBeGreaterThan(0.6);
    expect(await fs.readFile(path.join(ev, 'table.md'), 'utf8')).toMatch(/\| FGSM/);
    // FGSM's three quick ε each get their own figures (the "also report each ε")
    const per = results.groups[0].perPlan as { label: string; nAdv: number; detectors: { detector: string }[] }[];
    expect(per.map((p) => p.label)).toEqual(results.groups[0].plans.map((p: { label: string }) => p.label));
    expect(per.map((p) => p.label)).toHaveLength(3);
    expect(per.reduce((a, p) => a + p.nAdv, 0)).toBe(results.groups[0].nAdv);
    expect(per[0]!.detectors.map((d) => d.detector)).toEqual(results.groups[0].detectors.map((d: { detector: string }) => d.detector));
    expect(results.groups[1].perPlan).toBeUndefined();
    expect(await fs.readFile(path.join(ev, 'table.md'), 'utf8')).toMatch(/## FGSM, each plan on its own/);
    const html = await fs.readFile(path.join(ev, 'report.html'), 'utf8');
    expect(html).toMatch(/<svg/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);

    // the noise and margin defenders: two more checkpoints, their raw scores in detect, and rows with and without them
    const bundleN = path.join(dir, 'pcl-noise');
    const dn = await pcl([
      'defend', '--model', victim, '--dataset', 'mnist', '--out', bundleN, '--limit', '1500',
      '--latent-epochs', '1', '--patches-per-class', '500', '--noise-defender', '--margin-defender',
    ]);
    expect(dn.code, dn.stderr).toBe(0);
    expect(JSON.parse(dn.stdout).defenders.map((q: { label: string }) => q.label)).toEqual(['latent:fc1', 'latent:fc2', 'input', 'input:noise', 'output:margin']);
    const rn = await pcl(['detect', '--defender', bundleN, '--input', path.join(dir, 'noise.idx')]);
    expect(rn.code, rn.stderr).toBe(0);
    const scoresN = JSON.parse(rn.stdout).results[0].scores;
    expect(typeof scoresN.inputNoiseDb).toBe('number');
    expect(typeof scoresN.outputMargin).toBe('number');
    expect(Object.keys(scoresN.latent)).toEqual(['fc1', 'fc2']);
    const evN = path.join(dir, 'eval-noise');
    const en = await pcl(['evaluate', '--defender', bundleN, '--dataset', 'mnist', '--n', '40', '--attacks', 'fgsm', '--quick', '--no-baselines', '--out', evN]);
    expect(en.code, en.stderr).toBe(0);
    const rowsN = (JSON.parse(await fs.readFile(path.join(evN, 'results.json'), 'utf8')).groups[0].detectors as { detector: string }[]).map((q) => q.detector);
    for (const want of ['PCL input noise', 'PCL output margin', 'PCL latent OR input OR noise OR margin', 'PCL latent OR input (without noise and margin)', 'PCL calibrated fusion (without noise and margin)']) expect(rowsN).toContain(want);

    // the twin defender: a second victim (another seed) beside the latent one; its raw score in detect
    const twinDir = path.join(dir, 'twin');
    const tt = await pcl(['train', '--dataset', 'mnist', '--arch', 'mnist-mlp', '--out', twinDir, '--epochs', '1', '--limit', '2000', '--seed', '2']);
    expect(tt.code, tt.stderr).toBe(0);
    const bundleT = path.join(dir, 'pcl-twin');
    const dt = await pcl(['defend', '--model', victim, '--dataset', 'mnist', '--out', bundleT, '--limit', '1500', '--latent-epochs', '1', '--checkpoints', 'fc2', '--no-input-defender', '--twin', twinDir]);
    expect(dt.code, dt.stderr).toBe(0);
    expect(JSON.parse(dt.stdout).defenders.map((q: { label: string }) => q.label)).toEqual(['latent:fc2', 'output:twin']);
    const rt = await pcl(['detect', '--defender', bundleT, '--input', path.join(dir, 'noise.idx')]);
    expect(rt.code, rt.stderr).toBe(0);
    const twinP = JSON.parse(rt.stdout).results.map((q: { scores: { twinProbability: number } }) => q.scores.twinProbability);
    for (const v of twinP) expect(v).toBeGreaterThanOrEqual(0);
    for (const v of twinP) expect(v).toBeLessThanOrEqual(1);
    const badT = await pcl(['defend', '--model', victim, '--dataset', 'mnist', '--out', path.join(dir, 'nope'), '--twin', path.join(dir, 'no-such-twin')]);
    expect(badT.code).not.toBe(0);
    expect(badT.stderr).toMatch(/no-such-twin/);

    // --attack-n: false positives on all 40 images, the attacks on the seeded 15 that --n 15 attacks
    const evA = path.join(dir, 'eval-attack-n');
    const ea = await pcl(['evaluate', '--defender', bundleN, '--dataset', 'mnist', '--n', '40', '--attack-n', '15', '--attacks', 'fgsm', '--quick', '--no-baselines', '--out', evA]);
    expect(ea.code, ea.stderr).toBe(0);
    const evS = path.join(dir, 'eval-15');
    const es = await pcl(['evaluate', '--defender', bundleN, '--dataset', 'mnist', '--n', '15', '--attacks', 'fgsm', '--quick', '--no-baselines', '--out', evS]);
    expect(es.code, es.stderr).toBe(0);
    const [ra, rs, r40] = await Promise.all([evA, evS, evN].map(async (d) => JSON.parse(await fs.readFile(path.join(d, 'results.json'), 'utf8'))));
    expect(ra.n).toBe(40);
    expect(ra.nAttackRows).toBe(15);
    expect(ra.groups[0].nClean).toBe(r40.groups[0].nClean);
    expect(ra.groups[0].nClean).toBeGreaterThan(rs.groups[0].nClean);
    expect(ra.groups[0].plans.map((q: { attacked: number; successes: number }) => [q.attacked, q.successes])).toEqual(
      rs.groups[0].plans.map((q: { attacked: number; successes: number }) => [q.attacked, q.successes]),
    );
    expect(ra.groups[0].nAdv).toBe(rs.groups[0].nAdv);

    // --quantize-adversarial: the same attacks, rounded to the 8-bit grid before scoring
    const evQ = path.join(dir, 'eval-quantized');
    const eq = await pcl(['evaluate', '--defender', bundleN, '--dataset', 'mnist', '--n', '40', '--attacks', 'fgsm', '--quick', '--no-baselines', '--quantize-adversarial', '--out', evQ]);
    expect(eq.code, eq.stderr).toBe(0);
    const rq = JSON.parse(await fs.readFile(path.join(evQ, 'results.json'), 'utf8'));
    expect(rq.quantizedBits).toBe(8);
    expect(r40.quantizedBits).toBeUndefined();
    expect(await fs.readFile(path.join(evQ, 'table.md'), 'utf8')).toMatch(/rounded to the 8-bit pixel grid/);
    for (const [i, plan] of (rq.groups[0].plans as { params: { eps: number }; meanLinf: number; attacked: number }[]).entries()) {
      expect(plan.attacked).toBe(r40.groups[0].plans[i].attacked);
      // an FGSM step of ε, rounded: within half a grid step of ε
      expect(Math.abs(plan.meanLinf - plan.params.eps)).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
    }
    const badQ = await pcl(['evaluate', '--defender', bundleN, '--dataset', 'mnist', '--n', '40', '--attacks', 'fgsm', '--quantize-adversarial', '17', '--out', evQ]);
    expect(badQ.code).not.toBe(0);
    expect(badQ.stderr).toMatch(/quantizeAdversarial \(bits\) must be an integer in \[1, 16\], got 17/);
  }, 300_000); // ≈ 1 min on an idle 2-core machine: two victims, three bundles, four evaluations

  test('reproduce keeps the fitted defenders it can and fits only the new one (--margin-defender)', async () => {
    const victim = path.join(dir, 'victim');
    const out = path.join(dir, 'rep-reuse');
    const base = ['reproduce', '--dataset', 'mnist', '--victim', victim, '--out', out, '--quick', '--n', '40', '--attacks', 'fgsm,deepfool', '--fit-limit', '600', '--latent-epochs', '1'];
    const first = await pcl(base);
    expect(first.code, first.stderr).toBe(0);
    const fitRecord = JSON.parse(await fs.readFile(path.join(out, 'detector.fit.json'), 'utf8'));
    expect(fitRecord).toEqual({ dataset: 'mnist', fitLimit: 600, seed: 0 });
    const second = await pcl([...base, '--margin-defender'], false);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/reusing the fitted latent:fc1, latent:fc2, input from .*detector; fitting the rest/);
    expect(second.stderr).toMatch(/fitting output:margin on \d+ clean samples/);
    expect(second.stderr).not.toMatch(/fitting latent:/);
    // the comparison detectors too (out/detector-extras/)
    for (const label of ['latent:fc2:likelihood', 'mahalanobis:fc2', 'pca:fc2']) expect(second.stderr).toContain(`reusing the fitted ${label} from`);
    const r = JSON.parse(await fs.readFile(path.join(out, 'results.json'), 'utf8'));
    const df = r.groups.find((g: { group: string }) => g.group === 'DeepFool');
    const names = df.detectors.map((d: { detector: string }) => d.detector);
    expect(names).toEqual(expect.arrayContaining(['PCL output margin', 'PCL latent OR input OR margin', 'PCL calibrated fusion (without margin)']));
    // DeepFool stops on the boundary: the margin alone separates it from clean digits
    expect(df.detectors.find((d: { detector: string }) => d.detector === 'PCL output margin').auroc).toBeGreaterThan(0.9);
    // another fitting set: nothing is reused
    const third = await pcl([...base.slice(0, -4), '--fit-limit', '500', '--latent-epochs', '1', '--attacks', 'fgsm'], false);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).not.toMatch(/reusing the fitted/);
    expect(third.stderr).toMatch(/fitting latent:fc1 on/);
  }, 420_000); // three small reproduce runs: ≈ 1.5 min on an idle 2-core machine

  test('bad input: one-line reason and a non-zero exit', async () => {
    const missing = await pcl(['detect', '--defender', path.join(dir, 'nope'), '--input', path.join(dir, 'nope.idx')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/manifest\.json/);
    const badSp = await pcl(['defend', '--model', 'x', '--dataset', 'mnist', '--out', 'y', '--sp', '150']);
    expect(badSp.code).not.toBe(0);
    expect(badSp.stderr).toMatch(/--sp: expected a percentage in \[0, 100\], got '150'/);
    const badStride = await pcl(['defend', '--model', 'x', '--dataset', 'mnist', '--out', 'y', '--input-stride', 'wide']);
    expect(badStride.code).not.toBe(0);
    expect(badStride.stderr).toMatch(/--input-stride: expected a positive integer or 'tile', got 'wide'/);
    const badDs = await pcl(['evaluate', '--defender', 'x', '--dataset', 'mnist', '--out', 'y', '--attacks', 'fgsm,nope']);
    expect(badDs.code).not.toBe(0);
    expect(badDs.stderr).toMatch(/unknown attack 'nope'/);
    // reproduce --checkpoints: refused before any fitting, naming the layer (the victim of the first test)
    const victim = path.join(dir, 'victim');
    const rep = (c: string) => pcl(['reproduce', '--dataset', 'mnist', '--victim', victim, '--out', path.join(dir, 'rep'), '--checkpoints', c]);
    const badCk = await rep('fc1,nope');
    expect(badCk.code).not.toBe(0);
    expect(badCk.stderr).toMatch(/checkpoint 'nope' is not a layer of the victim \(layers: flatten, fc1, fc2, fc3\)/);
    expect((await rep('fc3')).stderr).toMatch(/checkpoint 'fc3' is the output layer/);
    expect((await rep('fc2,fc2')).stderr).toMatch(/checkpoint 'fc2' is named twice/);
  });

  test('a reader that closes the pipe early (pcl … | head) ends the command quietly', async () => {
    // the help text is longer than one line; `head -n 1` closes the pipe after the first
    const sh = `"${process.execPath}" "${bin}" defend --help | head -n 1`;
    const r = await promisify(execFile)('/bin/sh', ['-c', sh], { cwd: root });
    expect(r.stdout).toMatch(/^Usage: pcl defend/);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
  });
});
