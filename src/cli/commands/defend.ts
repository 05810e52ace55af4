import { Command, Option } from 'commander';
import { LATENT_SCORINGS } from '../../defense/latent/scoring.js';
import { FUSION_METHODS } from '../../defense/fusion/combine.js';
import { defendVictim } from '../../pipeline/defend.js';
import { ArgumentError } from '../../errors.js';
import { list, nonNegativeInt, percent, positiveInt } from '../args.js';

function strideArg(v: string): number | 'tile' {
  if (v === 'tile') return 'tile';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`--input-stride: expected a positive integer or 'tile', got '${v}'`);
  return n;
}

/** `pcl defend`: fits PCL defenders for a victim on clean training data and saves a bundle. */
export function register(program: Command): void {
  program
    .command('defend')
    .description('fit PCL defenders (latent checkpoints + input dictionaries) on clean training data and save a detector bundle')
    .requiredOption('--model <dir>', 'victim model folder (from `pcl train`)')
    .requiredOption('--dataset <spec>', 'dataset whose training split the defenders learn: mnist | idx:DIR | cifar10:DIR | imagefolder:DIR | imagenet10:DIR')
    .requiredOption('--out <dir>', 'output folder of the detector bundle (replaced atomically)')
    .option('--checkpoints <layers>', 'comma-separated checkpoint layer names (default: the last two hidden dense layers on grayscale images up to 32×32, e.g. fc1,fc2 on MNIST; else the second-to-last layer)', list('--checkpoints'))
    .option('--no-input-defender', 'fit latent defenders only')
    .option('--margin-defender', "add the output margin defender ('output:margin': the victim's logit margin against clean images of its class; catches minimal attacks that stop on the decision boundary, such as DeepFool and C&W at κ = 0, not confident ones)")
    .option('--twin <dir>', "add the twin defender ('output:twin'): a second model folder trained on the same clean data (another training run, an earlier version); flags images whose victim label the twin finds unlikely. Its copy goes into the bundle")
    .option('--noise-defender', "add the input noise defender ('input:noise': the image's robust pixel-noise estimate against clean images of its class; catches thin dense perturbations such as small-ε FGS and PGD L∞)")
    .option('--sp <percent>', 'security parameter: percent of clean training samples flagged per class', percent('--sp'), 1)
    .addOption(new Option('--fusion <rule>', "default decision rule of the bundle: 'calibrated' (combined false-alarm rate on held-out clean images = SP) or 'or' (the paper's rule: any defender alarms; false alarms add up)").choices(['or', 'calibrated']).default('calibrated'))
    .addOption(new Option('--fusion-method <method>', "p-value combination of the calibrated fusion: 'fisher' (pools all defenders), 'omnibus' (the best subset of defenders) or 'sidak' (min-p)").choices([...FUSION_METHODS]))
    .option('--seed <n>', 'seed', nonNegativeInt('--seed'), 0)
    .option('--limit <n>', 'fit on a seeded random subset of N training images', positiveInt('--limit'))
    .addOption(new Option('--latent-scoring <rule>', "latent score: 'likelihood' (the paper), 'ratio' (class likelihood ratio), 'combined' (either unusual), 'disagreement' (the fine-tuned replica doubts the victim's class) or 'combined-disagreement' (any of the three unusual; default)").choices([...LATENT_SCORINGS]))
    .option('--latent-epochs <n>', 'fine-tuning epochs of each latent replica', positiveInt('--latent-epochs'))
    .option('--patches-per-class <n>', 'random training patches per class for dictionary learning', positiveInt('--patches-per-class'))
    .option('--input-stride <n|tile>', "input defender: score overlapping patches every n pixels, or 'tile' for the paper's non-overlapping patches (default: 2 on grayscale images up to 32×32, else tile)", strideArg)
    .option('--input-patch <p>', "input defender: patch side in pixels (default: 8, or 7 where only 7 divides the image; 4 detected FGS and large PGD far better on ImageNet-10's 64×64 images, bench/results/input.md)", positiveInt('--input-patch'))
    .option('--dictionary-size <k>', 'input defender: atoms of each class dictionary (default 225; 48 suffice for 2×2 patches of colour images)', positiveInt('--dictionary-size'))
    .option('--input-atoms <k>', 'input defender: OMP atoms per patch at scoring (default: 10 where the stride is 2 by default, else 5)', positiveInt('--input-atoms'))
    .addHelpText('after', '\nPrints a JSON summary (defenders and their per-class thresholds) on stdout.')
    .action(async (o) => {
      const summary = await defendVictim({
        model: o.model,
        dataset: o.dataset,
        out: o.out,
        checkpoints: o.checkpoints,
        inputDefender: o.inputDefender,
        noiseDefender: o.noiseDefender === true,
        marginDefender: o.marginDefender === true,
        twin: o.twin,
        sp: o.sp,
        fusion: o.fusion,
        fusionMethod: o.fusionMethod,
        seed: o.seed,
        limit: o.limit,
        latentEpochs: o.latentEpochs,
        latentScoring: o.latentScoring,
        patchesPerClass: o.patchesPerClass,
        inputStride: o.inputStride,
        inputAtoms: o.inputAtoms,
        inputPatch: o.inputPatch,
        dictionarySize: o.dictionarySize,
      });
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}
