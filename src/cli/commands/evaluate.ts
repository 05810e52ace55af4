import { Command } from 'commander';
import { DEFAULT_ATTACKS, evaluateBundle } from '../../pipeline/evaluate-bundle.js';
import { list, nonNegativeInt, percent, positiveInt } from '../args.js';
import { summarizeResults } from './summary.js';

/** `pcl evaluate`: the paper's evaluation protocol for a detector bundle. */
export function register(program: Command): void {
  program
    .command('evaluate')
    .description('attack test images with the paper\'s attacks and the beyond-the-boundary ones and measure detection (results.json, table.md, report.html)')
    .requiredOption('--defender <dir>', 'detector bundle folder (from `pcl defend`)')
    .requiredOption('--dataset <spec>', 'dataset whose test split is attacked: mnist | idx:DIR | cifar10:DIR | imagefolder:DIR | imagenet10:DIR')
    .requiredOption('--out <dir>', 'output folder')
    .option('--attacks <list>', 'comma-separated: fgsm,jsma,deepfool,cw-l2,highconf (C&W κ 5–40, PGD L∞ and L2; also bim, pgd-l2)', list('--attacks'), [...DEFAULT_ATTACKS])
    .option('--n <n>', 'test images to attack', positiveInt('--n'), 1000)
    .option('--attack-n <n>', 'attack only a seeded subset of this many of the --n test images (the set --n <this> would attack); false positives are still counted on all of them', positiveInt('--attack-n'))
    .option('--quantize-adversarial [bits]', 'round the adversarial examples to the pixel grid (default 8 bits: as saved as PNG) before scoring them; success and distances measured again', positiveInt('--quantize-adversarial'))
    .option('--sp <percent>', 'security parameter of the single operating points', percent('--sp'))
    .option('--quick', 'reduced attack budgets (fewer FGSM ε, C&W 5×100)')
    .option('--no-baselines', 'skip the Mahalanobis and PCA-centre baselines')
    .option('--batch-size <n>', 'attack batch size', positiveInt('--batch-size'), 100)
    .option('--seed <n>', 'seed of the test subset and the attacks', nonNegativeInt('--seed'), 0)
    .option('--adaptive', 'also attack the detector itself (plain C&W, latent-adaptive, full adaptive with BPDA, feature attack) and add the Security section')
    .option('--adaptive-n <n>', 'correctly classified test images the adaptive attacks run on (default 100)', positiveInt('--adaptive-n'))
    .option('--adaptive-sps <list>', 'SPs the adaptive attacks aim at and are judged at (default 1,5)', list('--adaptive-sps'))
    .option('--adaptive-attacks <list>', 'cw-l2 and some of adaptive-latent,adaptive,feature (default all)', list('--adaptive-attacks'))
    .option('--adaptive-iterations <n>', 'Adam iterations per binary step of every adaptive attack (default 200)', positiveInt('--adaptive-iterations'))
    .option('--adaptive-binary-steps <n>', 'binary-search steps of every adaptive attack (default 6)', positiveInt('--adaptive-binary-steps'))
    .action(async (o) => {
      const r = await evaluateBundle({
        defender: o.defender,
        dataset: o.dataset,
        out: o.out,
        attacks: o.attacks,
        n: o.n,
        attackN: o.attackN,
        quantizeAdversarial: o.quantizeAdversarial === true ? 8 : o.quantizeAdversarial,
        sp: o.sp,
        quick: o.quick,
        baselines: o.baselines,
        batchSize: o.batchSize,
        seed: o.seed,
        adaptive: o.adaptive
          ? {
              n: o.adaptiveN,
              sps: o.adaptiveSps?.map((v: string) => percent('--adaptive-sps')(v)),
              attacks: o.adaptiveAttacks,
              schedule: { ...(o.adaptiveIterations ? { iterations: o.adaptiveIterations } : {}), ...(o.adaptiveBinarySteps ? { binarySteps: o.adaptiveBinarySteps } : {}) },
            }
          : undefined,
      });
      process.stdout.write(`${JSON.stringify(summarizeResults(o.out, r))}\n`);
    });
}
