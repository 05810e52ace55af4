/**
 * Success rate, mean L2 / L∞ and time of every attack on the MNIST victim (784-300-100-10) at the
 * paper's Table 3 parameters, on a seeded subset of the MNIST test set (only the correctly
 * classified images are attacked), plus a speed ratio against a straightforward reference measured
 * in the same run: the same attack called one image at a time (the per-image loop of the original
 * reference implementations) on the first `--ref-n` images.
 *
 *   nice -n 10 npx tsx bench/attacks.bench.ts [--model runs/victims/mnist-mlp] [--n 1000]
 *       [--only fgsm,jsma,deepfool,cw-fast,cw-full] [--ref-n 20] [--batch-size 100] [--workers 1] [--no-save]
 *
 * Attack sets are kept in runs/attacks/mnist/<name>/ (pcl attack's format) for the evaluation
 * harness; the figures are printed as a markdown table and written to bench/out/attacks.json.
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadDataset, disposeDataset } from '../src/data/index.js';
import { Classifier } from '../src/models/classifier.js';
import { loadClassifier } from '../src/models/io.js';
import { makeAttack } from '../src/attacks/index.js';
import { generateAttackSet, type AttackSetSummary } from '../src/attacks/attack-set.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const MODEL = arg('--model', 'runs/victims/mnist-mlp');
const N = Number(arg('--n', '1000'));
const REF_N = Number(arg('--ref-n', '20'));
const BATCH = Number(arg('--batch-size', '100'));
const ONLY = arg('--only', 'fgsm,deepfool,jsma,cw-fast,cw-full').split(',');
const SAVE = !process.argv.includes('--no-save');
const WORKERS = Number(arg('--workers', '1'));

interface Config {
  group: string;
  name: string;
  attack: string;
  params: Record<string, unknown>;
  /** Reference figure of the issue (independent PyTorch implementation, same architecture). */
  reference: string;
  reps?: number;
}
const CW_FAST = { binarySteps: 6, iterations: 100, lr: 0.1, confidence: 0 };
const CONFIGS: Config[] = [
  ...[0.05, 0.1, 0.2, 0.3].map((eps, i) => ({
    group: 'fgsm',
    name: `fgsm-eps${eps}`,
    attack: 'fgsm',
    params: { eps },
    reference: `≈ ${[43, 80, 96, 99][i]} %`,
    reps: 3,
  })),
  { group: 'deepfool', name: 'deepfool', attack: 'deepfool', params: { maxIter: 50, overshoot: 0.02 }, reference: '100 %, L2 ≈ 0.85' },
  { group: 'jsma', name: 'jsma', attack: 'jsma', params: { gamma: 0.05, theta: 1, target: 'random', saliencyOn: 'probs' }, reference: '≈ 90 %' },
  { group: 'cw-fast', name: 'cw-l2-fast', attack: 'cw-l2', params: CW_FAST, reference: '100 %, L2 ≈ 0.85' },
  { group: 'cw-full', name: 'cw-l2', attack: 'cw-l2', params: { binarySteps: 20, iterations: 500, lr: 0.1, confidence: 0 }, reference: '100 %, L2 ≈ 0.85' },
];

const engine = await initEngine();
const { model: layers, metrics } = await loadClassifier(MODEL);
const clf = new Classifier(layers);
console.log(
  `# attacks on ${MODEL} (test accuracy ${metrics.testAccuracy}); ${os.cpus().length}× ${os.cpus()[0]?.model}, load ${os.loadavg().map((v) => v.toFixed(1)).join('/')}, ` +
    `node ${process.version}, tfjs ${engine.tfjsVersion} ${engine.backend}${engine.simd ? '+simd' : ''}, n=${N}, batch ${BATCH}, ${WORKERS} worker(s)`,
);

/**
 * Per-image reference: the same attack, one call per image, on the first REF_N attacked images.
 * Returns wall and CPU seconds per image (CPU time is the fair figure on a shared machine).
 */
async function perImageSeconds(attackName: string, params: Record<string, unknown>): Promise<{ wall: number; cpu: number }> {
  const ds = await loadDataset('mnist', { split: 'test', limit: N, seed: 0 });
  try {
    const y = await ds.y.data();
    const p = clf.predict(ds.x);
    const pred = await p.data();
    p.dispose();
    const rows: number[] = [];
    for (let i = 0; i < y.length && rows.length < REF_N; i++) if (pred[i] === y[i]) rows.push(i);
    const attack = makeAttack(attackName, params);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (const i of rows) {
      const xi = ds.x.slice([i, 0, 0, 0], [1, -1, -1, -1]);
      const r = await attack.run(clf, xi, [y[i]], { seed: i });
      r.adversarial.dispose();
      xi.dispose();
    }
    const cpu = process.cpuUsage(cpu0);
    return { wall: (performance.now() - t0) / 1000 / rows.length, cpu: (cpu.user + cpu.system) / 1e6 / rows.length };
  } finally {
    disposeDataset(ds);
  }
}

const rows: Array<Record<string, unknown>> = [];
console.log(`| attack | params | n attacked | success | mean L2 | mean L∞ | mean L0 | time (batched) | per-image loop on ${REF_N} rows, extrapolated to n (CPU speed-up) | issue reference |`);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const c of CONFIGS) {
  if (!ONLY.includes(c.group)) continue;
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let s: AttackSetSummary | undefined;
  for (let r = 0; r < (c.reps ?? 1); r++) {
    s = await generateAttackSet({
      model: WORKERS > 1 ? MODEL : clf,
      modelLabel: MODEL,
      workers: WORKERS,
      dataset: 'mnist',
      attack: c.attack,
      params: c.params,
      n: N,
      batchSize: BATCH,
      seed: 0,
      out: SAVE && r === 0 ? path.join('runs/attacks/mnist', c.name) : undefined,
    });
    times.push(s.seconds);
    cpuTimes.push(s.cpuSeconds);
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  const seconds = times[Math.floor(times.length / 2)];
  const cpuSeconds = cpuTimes[Math.floor(cpuTimes.length / 2)];
  // the per-image reference is run at the cheap C&W schedule only (the full one would take hours one image at a time)
  const refParams = c.group === 'cw-full' ? undefined : c.params;
  const ref = refParams && REF_N > 0 ? await perImageSeconds(c.attack, refParams) : { wall: NaN, cpu: NaN };
  const row = {
    name: c.name,
    params: c.params,
    n: s!.n,
    successRate: s!.successRate,
    meanL2: s!.meanL2,
    meanLinf: s!.meanLinf,
    meanL0: s!.meanL0,
    seconds,
    cpuSeconds,
    perImageReferenceWallSeconds: ref.wall,
    perImageReferenceCpuSeconds: ref.cpu,
    speedupWall: (ref.wall * s!.n) / seconds,
    speedupCpu: (ref.cpu * s!.n) / cpuSeconds,
    reference: c.reference,
    targetPolicy: s!.targetPolicy,
  };
  rows.push(row);
  console.log(
    `| ${c.name} | ${JSON.stringify(c.params)} | ${s!.n} | ${(100 * s!.successRate).toFixed(1)} % | ${s!.meanL2.toFixed(3)} | ${s!.meanLinf.toFixed(3)} | ` +
      `${s!.meanL0.toFixed(1)} | ${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU${c.reps ? ` (median of ${c.reps})` : ''} | ` +
      `${Number.isFinite(ref.cpu) ? `${(ref.wall * s!.n).toFixed(1)} s wall, ${(ref.cpu * s!.n).toFixed(1)} s CPU (${row.speedupCpu.toFixed(1)}× CPU)` : '—'} | ${c.reference} |`,
  );
}

/**
 * Independent reference in the same run: FGSM and DeepFool written in PyTorch (Debian's
 * python3-torch, one thread, batched, float32) on the same weights and the same attacked rows.
 * Skipped when /usr/bin/python3 has no torch or `--no-torch` is given.
 */
const TORCH_SCRIPT = String.raw`
import json, struct, sys, time
import numpy as np, torch
torch.set_num_threads(1)
model_dir, mnist_dir, idx_file, out_file = sys.argv[1:5]
def read_idx(f):
    b = open(f, 'rb').read()
    dt = {8: np.uint8, 12: np.int32, 13: np.float32}[b[2]]; nd = b[3]
    shape = struct.unpack('>' + 'I' * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b[4 + 4 * nd:], dtype=np.dtype(dt).newbyteorder('>')).reshape(shape).astype(dt)
m = json.load(open(model_dir + '/model.json'))
raw = np.fromfile(model_dir + '/' + m['weightsManifest'][0]['paths'][0], dtype='<f4')
W, o = {}, 0
for g in m['weightsManifest']:
    for w in g['weights']:
        n = int(np.prod(w['shape'])); W[w['name']] = torch.tensor(raw[o:o + n].reshape(w['shape'])); o += n
def logits(x):
    h = x.reshape(x.shape[0], -1)
    h = torch.relu(h @ W['fc1/kernel'] + W['fc1/bias'])
    h = torch.relu(h @ W['fc2/kernel'] + W['fc2/bias'])
    return h @ W['fc3/kernel'] + W['fc3/bias']
rows = read_idx(idx_file).astype(np.int64)
X = torch.tensor(read_idx(mnist_dir + '/t10k-images-idx3-ubyte')[rows].astype(np.float32) / 255.0)
Y = torch.tensor(read_idx(mnist_dir + '/t10k-labels-idx1-ubyte')[rows].astype(np.int64))
res = {'n': len(rows), 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'clean_acc': float((logits(X).argmax(1) == Y).float().mean())}
for eps in [0.05, 0.1, 0.2, 0.3]:
    t = time.process_time()
    x = X.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(logits(x), Y, reduction='sum').backward()
    adv = (X + eps * x.grad.sign()).clamp(0, 1)
    res['fgsm-eps%g' % eps] = {'success': float((logits(adv).argmax(1) != Y).float().mean()), 'cpu_s': time.process_time() - t}
def deepfool(X, Y, max_iter=50, overshoot=0.02, bs=100):
    out = []
    for s in range(0, len(X), bs):
        x0, y = X[s:s + bs], Y[s:s + bs]; n = len(x0)
        r_tot = torch.zeros(n, 784); active = torch.ones(n, dtype=torch.bool); xa = x0.clone()
        for it in range(max_iter):
            x = xa.clone().requires_grad_(True); z = logits(x)
            active &= z.argmax(1) == y
            if not active.any(): break
            J = torch.stack([torch.autograd.grad(z[:, k].sum(), x, retain_graph=True)[0].reshape(n, -1) for k in range(10)], 1)
            f = (z - z.gather(1, y[:, None])).detach(); w = J - J.gather(1, y[:, None, None].expand(n, 1, 784))
            pert = f.abs() / (w.norm(dim=2) + 1e-8); pert.scatter_(1, y[:, None], float('inf'))
            l = pert.argmin(1); wl = w[torch.arange(n), l]; pl = pert[torch.arange(n), l]
            r = (pl + 1e-4)[:, None] * wl / (wl.norm(dim=1, keepdim=True) + 1e-8)
            r_tot += r * active[:, None]
            xa = (x0.reshape(n, -1) + (1 + overshoot) * r_tot).clamp(0, 1).reshape(x0.shape)
        out.append(xa)
    return torch.cat(out)
t = time.process_time()
adv = deepfool(X, Y)
ok = logits(adv).argmax(1) != Y
l2 = (adv - X).reshape(len(X), -1).norm(dim=1)
res['deepfool'] = {'success': float(ok.float().mean()), 'meanL2': float(l2[ok].mean()), 'cpu_s': time.process_time() - t}
json.dump(res, open(out_file, 'w'), indent=2)
print(json.dumps(res))
`;
if (!process.argv.includes('--no-torch') && (ONLY.includes('fgsm') || ONLY.includes('deepfool'))) {
  const { execFileSync } = await import('node:child_process');
  const { mnistDir } = await import('../src/data/index.js');
  await fs.mkdir('bench/out', { recursive: true });
  await fs.writeFile('bench/out/attacks_torch_ref.py', TORCH_SCRIPT);
  const idxFile = path.join('runs/attacks/mnist', ONLY.includes('deepfool') ? 'deepfool' : 'fgsm-eps0.1', 'x_clean_index.idx');
  try {
    const out = execFileSync('nice', ['-n', '10', '/usr/bin/python3', 'bench/out/attacks_torch_ref.py', MODEL, mnistDir(), idxFile, 'bench/out/attacks-torch.json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const t = JSON.parse(out.trim().split('\n').pop()!);
    console.log(`\nPyTorch ${t.torch} reference (1 thread, same weights, same ${t.n} rows, clean accuracy ${t.clean_acc}):`);
    for (const [k, v] of Object.entries(t)) {
      if (typeof v !== 'object' || v === null) continue;
      const r = v as { success: number; meanL2?: number; cpu_s: number };
      const ours = rows.find((q) => q.name === k);
      console.log(
        `| ${k} | torch success ${(100 * r.success).toFixed(1)} %${r.meanL2 !== undefined ? `, L2 ${r.meanL2.toFixed(3)}` : ''}, ${r.cpu_s.toFixed(2)} s CPU` +
          (ours ? ` | ours ${(100 * (ours.successRate as number)).toFixed(1)} %, ${(ours.cpuSeconds as number).toFixed(2)} s CPU (torch/ours CPU ${(r.cpu_s / (ours.cpuSeconds as number)).toFixed(2)}×)` : '') + ' |',
      );
    }
  } catch (e) {
    console.log(`PyTorch reference skipped: ${(e as Error).message.split('\n')[0]}`);
  }
}
await fs.mkdir('bench/out', { recursive: true });
const outFile = `bench/out/attacks-${ONLY.join('_')}.json`;
await fs.writeFile(outFile, `${JSON.stringify({ model: MODEL, n: N, batchSize: BATCH, engine, load: os.loadavg(), rows }, null, 2)}\n`);
console.log(`wrote ${outFile}`);
layers.dispose();
tf.disposeVariables();
