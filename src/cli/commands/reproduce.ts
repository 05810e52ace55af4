import { Command } from 'commander';
import { reproduce } from '../../pipeline/reproduce.js';
import { ArgumentError } from '../../errors.js';
import { list, nonNegativeInt, positiveInt } from '../args.js';
import { summarizeResults } from './summary.js';

/** `pcl reproduce`: the paper's whole pipeline on one dataset. */
export function register(program: Command): void {
  program
    .command('reproduce')
    .description('train the victim, fit PCL, run the paper\'s attacks and write results.json, table.md and report.html')
    .requiredOption('--dataset <spec>', 'mnist | idx:DIR | cifar10:DIR | imagenet10:DIR')
    .requiredOption('--out <dir>', 'output folder (victim/, detector/, results.json, table.md, report.html)')
    .option('--quick', 'reduced version that runs in a few minutes')
    .option('--n <n>', 'test images to attack (default 1000; with --quick 300 on MNIST, 60 on CIFAR-10 and ImageNet-10)', positiveInt('--n'))
    .option('--seed <n>', 'seed of everything', nonNegativeInt('--seed'), 0)
    .option('--victim <dir>', 'use this trained victim (from `pcl train`) instead of training one')
    .option('--attacks <list>', 'comma-separated: paper (Table 3 for the dataset) or some of fgsm,jsma,deepfool,cw-l2; highconf (C&W κ 5–40, PGD L∞ and L2) or its parts cw-high, pgd (default: paper,highconf)', list('--attacks'))
    .option('--cw <BxI>', "C&W schedule: binary-search steps × iterations, e.g. 20x500 (default: the paper's 20x500 on MNIST, 10x200 on the CNNs)", cwSchedule)
    .option('--fit-limit <n>', 'training images the defenders are fitted on (default: all on MNIST and ImageNet-10, 20,000 on CIFAR-10)', positiveInt('--fit-limit'))
    .option('--margin-defender', "add the output margin defender ('output:margin': the victim's logit margin against clean images of its class) to the PCL detector, beside the paper's defenders")
    .option('--twin <dir>', "add the twin defender ('output:twin'): a second model folder trained on the same clean data (another training run, an earlier version); flags images whose victim label the twin finds unlikely. Its copy goes into the bundle")
    .option('--noise-defender', "add the input noise defender ('input:noise') to the PCL detector, beside the paper's defenders")
    .option(
      '--fold-batch-norm [scope]',
      "fold a batch-normalised victim's batch norms into its convolutions (same function, faster attacks): 'all' (the default scope) for attacks and defenders (the latent replicas then fine-tune without batch statistics), 'attacks' for the attack workers only",
    )
    .option('--attack-n <n>', 'attack only a seeded subset of this many of the --n test images (the set --n <this> would attack); false positives are still counted on all of them', positiveInt('--attack-n'))
    .option('--quantize-adversarial [bits]', 'round the adversarial examples to the pixel grid (default 8 bits: as saved as PNG) before scoring them; success and distances measured again', positiveInt('--quantize-adversarial'))
    .option('--input-patch <p>', "side of the input defender's patches in pixels (default 8; 4 detected FGS and large PGD far better on ImageNet-10, bench/results/input.md)", positiveInt('--input-patch'))
    .option('--dictionary-size <k>', "atoms of each class dictionary of the input defender (default 225; 48 suffice for 2×2 patches)", positiveInt('--dictionary-size'))
    .option('--checkpoints <layers>', "comma-separated latent checkpoint layers of the PCL detector (default: the second-to-last layer and the hidden dense layer before it, fc1,fc2 on the paper's networks)", list('--checkpoints'))
    .option('--latent-epochs <n>', 'fine-tuning epochs of each latent replica (default 3; 1 with --quick)', positiveInt('--latent-epochs'))
    .action(async (o) => {
      const r = await reproduce({
        dataset: o.dataset,
        out: o.out,
        quick: o.quick,
        n: o.n,
        seed: o.seed,
        victim: o.victim,
        attackSet: o.attacks,
        cw: o.cw,
        fitLimit: o.fitLimit,
        latentEpochs: o.latentEpochs,
        noiseDefender: o.noiseDefender === true,
        marginDefender: o.marginDefender === true,
        twin: o.twin,
        foldBatchNorm: foldScope(o.foldBatchNorm),
        attackN: o.attackN,
        quantizeAdversarial: o.quantizeAdversarial === true ? 8 : o.quantizeAdversarial,
        inputPatch: o.inputPatch,
        checkpoints: o.checkpoints,
        dictionarySize: o.dictionarySize,
      });
      process.stdout.write(`${JSON.stringify(summarizeResults(o.out, r))}\n`);
    });
}

/** Parses `--cw 20x500` into a C&W schedule. */
function cwSchedule(v: string): { binarySteps: number; iterations: number } {
  const m = /^(\d+)\s*[x×]\s*(\d+)$/.exec(v.trim());
  const b = m ? Number(m[1]) : NaN;
  const i = m ? Number(m[2]) : NaN;
  if (!(b >= 1 && i >= 1)) throw new ArgumentError(`--cw: expected BINARY_STEPSxITERATIONS with positive integers, e.g. 20x500, got '${v}'`);
  return { binarySteps: b, iterations: i };
}

/** `--fold-batch-norm [all|attacks]`: true for 'all' or no value, 'attacks', or false when absent. */
function foldScope(v: unknown): boolean | 'attacks' {
  if (v === undefined || v === false) return false;
  if (v === true || v === 'all') return true;
  if (v === 'attacks') return 'attacks';
  throw new ArgumentError(`--fold-batch-norm: expected 'all' or 'attacks', got '${String(v)}'`);
}
