import * as tf from '@tensorflow/tfjs';
import { readIdx } from '../src/io/idx.js';
import { loadDataset } from '../src/data/index.js';
import { auc, fprAtTprs } from '../src/eval/roc.js';
import { LatentDefender } from '../src/defense/latent/latent-defender.js';
import { fitHdda, hddaLogLikBatch } from '../src/defense/latent/hdda.js';
import { loadVictim, machineLine } from './latent.bench.js';
async function main() {
  await machineLine();
  const { victim } = await loadVictim('runs/victims/mnist-mlp');
  const bundle = process.argv[2] ?? 'runs/defenders/mnist-latent-fc2';
  const det = await LatentDefender.load(bundle, { victim });
  const train = await loadDataset('mnist', { split: 'train' });
  const test = await loadDataset('mnist', { split: 'test' });
  const ytr = Int32Array.from(train.y.dataSync());
  const yte = test.y.dataSync();
  const pt = victim.predict(test.x); const pte = Int32Array.from(pt.dataSync()); pt.dispose();
  const fTr = det.features(train.x); const fTe = det.features(test.x);
  const clean: number[] = []; for (let i = 0; i < yte.length; i++) if (pte[i] === yte[i]) clean.push(i);
  const sets: Record<string, { f: Float32Array; p: Int32Array }> = {};
  for (const a of ['deepfool', 'fgsm-eps0.1', 'cw-l2']) {
    try {
      const xa = await readIdx(`runs/attacks/mnist/${a}/x_adv.idx`); const ya = await readIdx(`runs/attacks/mnist/${a}/y_true.idx`);
      const x = tf.tensor4d(Float32Array.from(xa.data), [xa.shape[0], 28, 28, 1]);
      const pp = victim.predict(x); const p = Int32Array.from(pp.dataSync()); pp.dispose();
      const f = det.features(x); x.dispose();
      const succ: number[] = []; for (let i = 0; i < p.length; i++) if (p[i] !== ya.data[i]) succ.push(i);
      const fs = new Float32Array(succ.length * f.dim); succ.forEach((s, k) => fs.set(f.data.subarray(s * f.dim, (s + 1) * f.dim), k * f.dim));
      sets[a] = { f: fs, p: Int32Array.from(succ, (s) => p[s]) };
    } catch { /* missing */ }
  }
  const fc = new Float32Array(clean.length * fTe.dim); clean.forEach((s, k) => fc.set(fTe.data.subarray(s * fTe.dim, (s + 1) * fTe.dim), k * fTe.dim));
  const pc = Int32Array.from(clean, (s) => pte[s]);
  for (const opt of [{ dims: 'auto' as const, screeThreshold: 0.2 }, { dims: 'auto' as const, screeThreshold: 0.05 }, { dims: 5 }, { dims: 10 }, { dims: 20 }, { dims: 40 }, { dims: 99 }]) {
    const h = fitHdda(fTr.data, fTr.dim, ytr, 10, opt);
    const sc = hddaLogLikBatch(h, fc, pc).map((v) => -v);
    const out = [JSON.stringify(opt), h.map((q) => q.d).join(',')];
    for (const [a, s] of Object.entries(sets)) {
      const sa = hddaLogLikBatch(h, s.f, s.p).map((v) => -v);
      out.push(`${a}: auc ${auc(sc, sa).toFixed(4)} fp ${fprAtTprs(sc, sa).map((v) => (100 * v).toFixed(1)).join('/')}`);
    }
    console.log(out.join(' | '));
  }
}
main();
