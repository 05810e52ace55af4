/**
 * The security protocol on MNIST (issue 13): plain C&W L2 on the undefended victim, the
 * latent-adaptive attack, the full-PCL adaptive attack (latent surrogates + the input defender through
 * BPDA) and the feature-space attack, aimed at SP 1 % and 5 %, every example judged by the detector
 * itself. Prints (machine and versions first) the detection rate at each SP, the share of rows that
 * fool the victim AND evade PCL by L2 budget, and the cost ratio to undefended C&W; writes
 * bench/out/adaptive-full.json.
 *
 *   nice -n 10 npx tsx bench/adaptive-full.bench.ts [--detector runs/pcl] [--n 100] [--sps 1,5]
 *       [--attacks cw-l2,adaptive-latent,adaptive,feature] [--binary-steps 6] [--iterations 200]
 *       [--lr 0.1] [--initial-const 0.01] [--batch-size 100] [--out bench/out/adaptive-full.json]
 *
 * Rows: the first N correctly classified MNIST test images in file order, or, with
 * `--challenge CH`, the challenge's rows (all of them): then every attack aimed at the challenge's SP
 * (and plain C&W) is also projected onto the challenge's budget, written as a submission
 * (`<out dir>/submission-<attack>.idx`) and scored by `scoreChallenge` into `--leaderboard FILE`.
 * Guides of the feature attack: 5,000 training images (seed 0).
 */
import '../src/node.js';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { disposeDataset, loadDataset } from '../src/data/index.js';
import { PCLDetector } from '../src/defense/pcl.js';
import { initEngine } from '../src/engine/backend.js';
import { readChallenge } from '../src/challenge/manifest.js';
import { scoreChallenge } from '../src/challenge/score.js';
import { projectToBudget } from '../src/challenge/submission.js';
import { writeIdx } from '../src/io/idx.js';
import { runSecurityProtocol } from '../src/pipeline/security.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const DETECTOR = arg('--detector', 'runs/pcl');
const N = Number(arg('--n', '100'));
const SPS = arg('--sps', '1,5').split(',').map(Number);
const ATTACKS = arg('--attacks', 'cw-l2,adaptive-latent,adaptive,feature').split(',');
const OUT = arg('--out', 'bench/out/adaptive-full.json');
const CHALLENGE = arg('--challenge', '');
const LEADERBOARD = arg('--leaderboard', '');
const SCHEDULE = {
  binarySteps: Number(arg('--binary-steps', '6')),
  iterations: Number(arg('--iterations', '200')),
  lr: Number(arg('--lr', '0.1')),
  initialConst: Number(arg('--initial-const', '0.01')),
};

const engine = await initEngine();
const machine =
  `${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length} (load ${os.loadavg().map((v) => v.toFixed(1)).join('/')}), node ${process.version}, ` +
  `tfjs ${engine.tfjsVersion} ${engine.backend}${engine.simd ? '+simd' : ''}, ${new Date().toISOString()}`;
console.log(`# security protocol on MNIST: ${DETECTOR}`);
console.log(`machine: ${machine}`);
const t0 = performance.now();
const det = await PCLDetector.load(DETECTOR);
console.log(`detector: ${det.labels.join(' + ')}, rule '${det.params.fusion}'; schedule ${JSON.stringify(SCHEDULE)}`);
let x: tf.Tensor4D;
let y: Int32Array;
const ch = CHALLENGE ? await readChallenge(CHALLENGE) : undefined;
if (ch) {
  x = tf.tensor4d(ch.xClean, [ch.manifest.n, ...ch.manifest.imageShape]);
  y = ch.yTrue;
  console.log(`rows: the ${ch.manifest.n} rows of challenge ${CHALLENGE} (${ch.manifest.id.slice(0, 12)}…), budget L2 ${ch.manifest.budget.l2}, SP ${ch.manifest.sp} %`);
} else {
  const ds = await loadDataset('mnist', { split: 'test' });
  const yAll = Int32Array.from(await ds.y.data());
  const pv = det.victim.predict(ds.x);
  const pred = await pv.data();
  pv.dispose();
  const keep: number[] = [];
  for (let i = 0; i < yAll.length && keep.length < N; i++) if (pred[i] === yAll[i]) keep.push(i);
  x = tf.gather(ds.x, tf.tensor1d(keep, 'int32')) as tf.Tensor4D;
  y = Int32Array.from(keep, (i) => yAll[i]);
  disposeDataset(ds);
}
const entries: string[] = [];
/** Projects an attack's examples onto the challenge budget, writes the submission and scores it. */
async function submit(attack: string, aimedSp: number | null, adv: tf.Tensor4D): Promise<void> {
  if (!ch || (aimedSp !== null && aimedSp !== ch.manifest.sp)) return;
  const [n, h, w, c] = adv.shape;
  const data = Float32Array.from((await adv.data()) as Float32Array);
  const projected = projectToBudget(data, ch.xClean, n, h * w * c, ch.manifest.budget);
  const file = path.join(path.dirname(OUT), `submission-${attack}.idx`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeIdx(file, data, [n, h, w, c]);
  const e = await scoreChallenge({ challenge: CHALLENGE, submission: file, leaderboard: LEADERBOARD || undefined, name: `${attack}${aimedSp !== null ? ` (aimed at SP ${aimedSp} %)` : ''}, ${SCHEDULE.binarySteps}×${SCHEDULE.iterations}` });
  entries.push(`| ${e.name} | ${(100 * e.successRate).toFixed(1)} % | ${e.meanL2Success === null ? '–' : e.meanL2Success.toFixed(3)} | ${(100 * e.fooledRate).toFixed(1)} % | ${e.detectionRate === null ? '–' : `${(100 * e.detectionRate).toFixed(1)} %`} | ${projected.length} |`);
}
const pool = await loadDataset('mnist', { split: 'train', limit: 5000, seed: 0 });
const res = await runSecurityProtocol(det, x, y, {
  sps: SPS,
  attacks: ATTACKS,
  schedule: SCHEDULE,
  guidePool: { x: pool.x, y: await pool.y.data() },
  log: (m) => console.error(`[${((performance.now() - t0) / 1000).toFixed(0)} s] ${m}`),
  onResult: (attack, aimedSp, r) => submit(attack, aimedSp, r.adversarial),
});
const pct = (v: number) => (Number.isNaN(v) ? '–' : `${(100 * v).toFixed(1)} %`);
console.log(`\nrows: ${res.n}; undefended C&W mean L2 ${res.referenceL2.toFixed(3)}`);
console.log(`clean false alarms on the rows: ${res.cleanFalseAlarm.map((c) => `SP ${c.sp} % (${c.rule}) ${pct(c.rate)}`).join('; ')}\n`);
console.log('| attack | aimed at SP | judged at SP (rule) | victim fooled | detected (of fooled) | fool ∧ evade | mean L2 of evading | ÷ undefended C&W | attack time |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of res.rows) {
  console.log(`| ${r.attack} | ${r.aimedSp ?? '–'} | ${r.sp} % (${r.rule}) | ${pct(r.fooledRate)} | ${pct(r.detectionRate)} | ${pct(r.evadeRate)} | ${Number.isNaN(r.meanL2Evading) ? '–' : r.meanL2Evading.toFixed(3)} | ${Number.isNaN(r.l2Ratio) ? '–' : `${r.l2Ratio.toFixed(2)}×`} | ${r.seconds.toFixed(0)} s |`);
}
console.log(`\nfool ∧ evade within L2 budget B (B in multiples of the undefended C&W mean ${res.referenceL2.toFixed(3)}):\n`);
const cols = res.budgets.filter((_, i) => i % 2 === 0);
console.log(`| attack @ SP | ${cols.map((b) => (b / res.referenceL2).toFixed(1)).join(' | ')} |`);
console.log(`|---|${cols.map(() => '---').join('|')}|`);
for (const r of res.rows) console.log(`| ${r.attack} @ ${r.sp} % (${r.rule}) | ${r.evadeWithinBudget.filter((_, i) => i % 2 === 0).map(pct).join(' | ')} |`);
if (entries.length) {
  console.log(`\nchallenge entries (scored by scoreChallenge: victim fooled AND no alarm at SP ${ch!.manifest.sp} %, L2 ≤ ${ch!.manifest.budget.l2}):\n`);
  console.log('| entry | success rate | mean L2 of successes | victim fooled | detected (of fooled) | rows projected onto the budget |');
  console.log('|---|---|---|---|---|---|');
  for (const e of entries) console.log(e);
}
console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`);
await fs.mkdir(path.dirname(OUT), { recursive: true });
await fs.writeFile(OUT, JSON.stringify({ machine, detector: DETECTOR, labels: det.labels, ...res }, null, 2));
x.dispose();
disposeDataset(pool);
det.dispose();
