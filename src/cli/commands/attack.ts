import { Command, Option } from 'commander';
import { ArgumentError } from '../../errors.js';
import { ATTACK_NAMES, JSMA_TARGET_POLICIES } from '../../attacks/index.js';
import { generateAttackSet } from '../../attacks/attack-set.js';
import { ADAPTIVE_ATTACK_NAMES, makeAdaptiveAttack } from '../../attacks/adaptive.js';
import { attackChallenge } from '../../challenge/attack.js';
import { readChallenge } from '../../challenge/manifest.js';
import { loadDataset, disposeDataset, type Dataset } from '../../data/index.js';
import { PCLDetector } from '../../defense/pcl.js';
import { initEngine } from '../../engine/backend.js';
import { progressBar, type Progress } from '../../util/progress.js';

function num(name: string, check: (n: number) => boolean, what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || !check(n)) throw new ArgumentError(`${name}: expected ${what}, got '${v}'`);
    return n;
  };
}
const positiveInt = (name: string) => num(name, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
const nonNegativeInt = (name: string) => num(name, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
const nonNegative = (name: string) => num(name, (n) => n >= 0, 'a non-negative number');
const positive = (name: string) => num(name, (n) => n > 0, 'a positive number');
const anyNumber = (name: string) => num(name, () => true, 'a number');

/** Clean training images the feature attack picks its guides from. */
const GUIDE_POOL = 5000;

/** CLI option → [attack, parameter name]. */
const ATTACK_OPTIONS: Record<string, [string[], string]> = {
  eps: [['fgsm', 'bim', 'pgd-l2'], 'eps'],
  stepSize: [['bim'], 'stepSize'],
  relStepSize: [['pgd-l2'], 'relStepSize'],
  steps: [['bim', 'pgd-l2'], 'steps'],
  randomStart: [['bim'], 'randomStart'],
  theta: [['jsma'], 'theta'],
  gamma: [['jsma'], 'gamma'],
  target: [['jsma'], 'target'],
  saliency: [['jsma'], 'saliencyOn'],
  maxIter: [['deepfool'], 'maxIter'],
  overshoot: [['deepfool'], 'overshoot'],
  confidence: [['cw-l2', ...ADAPTIVE_ATTACK_NAMES], 'confidence'],
  binarySteps: [['cw-l2', ...ADAPTIVE_ATTACK_NAMES], 'binarySteps'],
  iterations: [['cw-l2', ...ADAPTIVE_ATTACK_NAMES], 'iterations'],
  lr: [['cw-l2', ...ADAPTIVE_ATTACK_NAMES], 'lr'],
  initialC: [['cw-l2', ...ADAPTIVE_ATTACK_NAMES], 'initialConst'],
  abortEarly: [['cw-l2', ...ADAPTIVE_ATTACK_NAMES], 'abortEarly'],
  abortScope: [['cw-l2'], 'abortScope'],
  sp: [[...ADAPTIVE_ATTACK_NAMES], 'sp'],
  margin: [[...ADAPTIVE_ATTACK_NAMES], 'margin'],
  latentWeight: [[...ADAPTIVE_ATTACK_NAMES], 'latentWeight'],
  inputWeight: [['adaptive'], 'inputWeight'],
  featureWeight: [['feature'], 'featureWeight'],
};
const isAdaptive = (a: string) => (ADAPTIVE_ATTACK_NAMES as readonly string[]).includes(a);
const FLAG = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Maps the parsed options of `pcl attack` to the chosen attack's hyperparameters; rejects options of other attacks. */
export function attackParamsFromOptions(attack: string, o: Record<string, unknown>): Record<string, unknown> {
  const key = attack === 'cw' ? 'cw-l2' : attack === 'pgd' ? 'bim' : attack;
  const params: Record<string, unknown> = {};
  for (const [opt, [attacks, param]] of Object.entries(ATTACK_OPTIONS)) {
    if (o[opt] === undefined) continue;
    if (opt === 'abortEarly' && o[opt] === true) continue; // the default; only --no-abort-early matters
    if (!attacks.includes(key)) {
      throw new ArgumentError(`${FLAG(opt === 'abortEarly' ? 'noAbortEarly' : opt)} does not apply to --attack ${attack} (it is an option of ${attacks.join(', ')})`);
    }
    params[param] = o[opt];
  }
  return params;
}

/** `pcl attack`: generates an adversarial set from the test split (INTERFACE.md). */
export function register(program: Command): void {
  program
    .command('attack')
    .description('attack the correctly classified test images of a dataset and write the adversarial set (IDX + summary.json)')
    .option('--model <dir>', "victim model folder written by 'pcl train' (required unless --challenge)")
    .option('--dataset <spec>', 'mnist | idx:DIR | cifar10:DIR | imagenet10:DIR (its test split is attacked; required unless --challenge)')
    .option('--challenge <dir>', "attack exactly the rows of a challenge folder ('pcl challenge pack') on its victim; x_adv.idx is then a valid submission (projected onto the budget)")
    .addOption(new Option('--attack <name>', 'attack (adaptive, adaptive-latent, feature: white-box attacks on the detector too; need --defender or --challenge)').choices([...ATTACK_NAMES, 'pgd', 'cw', ...ADAPTIVE_ATTACK_NAMES]).makeOptionMandatory())
    .option('--defender <dir>', 'detector bundle the adaptive attacks know (its victim copy is attacked; --model is then optional)')
    .requiredOption('--out <dir>', 'output folder (x_adv.idx, y_true.idx, x_clean_index.idx, success.idx, y_adv.idx, summary.json); replaced atomically')
    .option('--eps <x>', 'fgsm, bim: L∞ budget ε (default 0.1); pgd-l2: L2 budget ε (default 2)', nonNegative('--eps'))
    .option('--step-size <x>', 'bim: step size α (default 0.01)', nonNegative('--step-size'))
    .option('--rel-step-size <x>', 'pgd-l2: step size as a fraction of ε (default 0.05)', nonNegative('--rel-step-size'))
    .option('--steps <n>', 'bim: iterations (default 20); pgd-l2: iterations (default 50)', positiveInt('--steps'))
    .option('--random-start', 'bim: start at a random point of the ε-ball (PGD)')
    .option('--theta <x>', 'jsma: change per feature θ, negative to decrease (default 1)', anyNumber('--theta'))
    .option('--gamma <x>', 'jsma: max fraction of features changed γ (default 0.05)', nonNegative('--gamma'))
    .addOption(new Option('--target <policy>', 'jsma: target class rule (default random)').choices([...JSMA_TARGET_POLICIES]))
    .addOption(new Option('--saliency <of>', 'jsma: differentiate the softmax output (Papernot) or the logits (default probs)').choices(['probs', 'logits']))
    .option('--max-iter <n>', 'deepfool: maximum iterations (default 50)', positiveInt('--max-iter'))
    .option('--overshoot <x>', 'deepfool: overshoot (default 0.02)', nonNegative('--overshoot'))
    .option('--confidence <k>', 'cw-l2: confidence κ (default 0)', nonNegative('--confidence'))
    .option('--binary-steps <n>', 'cw-l2: binary-search steps over c (default 20)', positiveInt('--binary-steps'))
    .option('--iterations <n>', 'cw-l2: Adam iterations per binary step (default 500)', positiveInt('--iterations'))
    .option('--lr <x>', 'cw-l2: Adam learning rate (default 0.1)', positive('--lr'))
    .option('--initial-c <x>', 'cw-l2: initial constant c (default 0.001)', positive('--initial-c'))
    .option('--no-abort-early', 'cw-l2: run every iteration even when the loss stalls')
    .addOption(new Option('--abort-scope <of>', 'cw-l2: early abort per row (a stalled row leaves the batch) or per batch (Carlini\'s code) (default row)').choices(['row', 'batch']))
    .option('--sp <percent>', 'adaptive, adaptive-latent, feature: SP whose thresholds the attack aims under (default 1)', nonNegative('--sp'))
    .option('--margin <x>', 'adaptive*: aim this many clean tail scales under each threshold (default 1)', nonNegative('--margin'))
    .option('--latent-weight <x>', 'adaptive*: weight λ of the latent defenders\' hinge (default 1)', nonNegative('--latent-weight'))
    .option('--input-weight <x>', 'adaptive: weight μ of the input defender\'s BPDA hinge (default 1)', nonNegative('--input-weight'))
    .option('--feature-weight <x>', 'feature: weight ν of the feature-matching term (default 10)', nonNegative('--feature-weight'))
    .option('--n <n>', 'test images drawn (seeded subset)', positiveInt('--n'), 1000)
    .option('--batch-size <n>', 'rows per attack call', positiveInt('--batch-size'), 100)
    .option('--seed <n>', 'seed of the subset and of the attack', nonNegativeInt('--seed'), 0)
    .option('--all', 'also attack the images the victim already misclassifies')
    .option('--workers <n>', 'worker threads attacking batches in parallel (same result as 1)', positiveInt('--workers'), 1)
    .option('--quantize-adversarial [bits]', 'round the adversarial images to the pixel grid (default 8 bits: as saved as PNG) before measuring and writing them', positiveInt('--quantize-adversarial'))
    .addHelpText('after', '\nDefaults are the paper\'s Table 3 where it gives one. Prints summary.json on stdout.')
    .action(async (o: Record<string, unknown> & { model?: string; dataset?: string; challenge?: string; attack: string; out: string; n: number; batchSize: number; seed: number; all?: boolean; workers: number }) => {
      const params = attackParamsFromOptions(o.attack, o);
      const quantizeAdversarial = o.quantizeAdversarial === true ? 8 : (o.quantizeAdversarial as number | undefined);
      let bar: Progress | undefined;
      const onProgress = (done: number, total: number) => {
        bar ??= progressBar(`attack ${o.attack}`, total);
        bar.update(done);
      };
      const adaptive = isAdaptive(o.attack);
      if (o.challenge !== undefined) {
        for (const opt of ['model', 'dataset', 'all', 'quantizeAdversarial'] as const) {
          if (o[opt] !== undefined) throw new ArgumentError(`${FLAG(opt)} does not apply with --challenge (the challenge fixes the victim and the rows)`);
        }
        let pool: Dataset | undefined;
        try {
          if (adaptive) {
            await initEngine();
            const m = (await readChallenge(o.challenge)).manifest;
            params.sp ??= m.sp; // aim at the SP the challenge judges at
            if (o.attack === 'feature') pool = await loadDataset(m.dataset, { split: 'train', limit: GUIDE_POOL, seed: o.seed });
          }
          const summary = await attackChallenge({
            challenge: o.challenge,
            defender: o.defender as string | undefined,
            attack: adaptive ? (det) => makeAdaptiveAttack(o.attack, det, params, pool && { x: pool.x, y: pool.y.dataSync() }) : o.attack,
            params,
            batchSize: o.batchSize,
            seed: o.seed,
            out: o.out,
            onProgress,
          });
          bar?.stop();
          bar = undefined;
          process.stdout.write(`${JSON.stringify({ out: o.out, ...summary })}\n`);
        } finally {
          bar?.stop();
          if (pool) disposeDataset(pool);
        }
        return;
      }
      if (adaptive) {
        if (o.defender === undefined) throw new ArgumentError(`--attack ${o.attack} needs --defender DIR (the detector bundle it attacks) or --challenge DIR`);
        if (o.dataset === undefined) throw new ArgumentError(`pcl attack: --dataset is required (or --challenge DIR)`);
        if (o.model !== undefined) throw new ArgumentError(`--model does not apply to --attack ${o.attack}: the bundle's own victim copy is attacked`);
        if (o.workers > 1) throw new ArgumentError(`--workers does not apply to --attack ${o.attack} (the detector lives in this thread)`);
        await initEngine();
        const det = await PCLDetector.load(o.defender as string);
        let pool: Dataset | undefined;
        try {
          params.sp ??= det.params.sp;
          params.sp ??= det.params.sp;
          if (o.attack === 'feature') pool = await loadDataset(o.dataset, { split: 'train', limit: GUIDE_POOL, seed: o.seed });
          const attack = makeAdaptiveAttack(o.attack, det, params, pool && { x: pool.x, y: pool.y.dataSync() });
          const summary = await generateAttackSet({ model: det.victim, modelLabel: `${o.defender}/victim`, dataset: o.dataset, attack, n: o.n, batchSize: o.batchSize, seed: o.seed, all: o.all === true, quantizeAdversarial, out: o.out, onProgress });
          bar?.stop();
          bar = undefined;
          process.stdout.write(`${JSON.stringify({ out: o.out, defender: o.defender, ...summary })}\n`);
        } finally {
          bar?.stop();
          if (pool) disposeDataset(pool);
          det.dispose();
        }
        return;
      }
      if (o.defender !== undefined) throw new ArgumentError(`--defender applies only to --attack ${ADAPTIVE_ATTACK_NAMES.join(', ')}`);
      if (o.model === undefined || o.dataset === undefined) throw new ArgumentError(`pcl attack: --model and --dataset are required (or --challenge DIR)`);
      try {
        const summary = await generateAttackSet({
          model: o.model,
          dataset: o.dataset,
          attack: o.attack,
          params,
          n: o.n,
          batchSize: o.batchSize,
          seed: o.seed,
          all: o.all === true,
          workers: o.workers,
          quantizeAdversarial,
          out: o.out,
          onProgress,
        });
        bar?.stop();
        bar = undefined;
        process.stdout.write(`${JSON.stringify({ out: o.out, ...summary })}\n`);
      } finally {
        bar?.stop();
      }
    });
}
