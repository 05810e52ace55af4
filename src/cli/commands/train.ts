import { Command, Option } from 'commander';
import { ArgumentError } from '../../errors.js';
import { nonNegativeInt, positiveInt, positiveNumber } from '../args.js';
import { ARCHS, type Arch } from '../../models/zoo.js';
import { TRAIN_DEFAULTS, trainVictim, type Augmentation, type LrSchedule } from '../../models/train.js';

/** Parses `--augment none|flip|crop[:P]|flip,crop[:P]`. */
export function parseAugment(v: string): Augmentation {
  if (v === 'none') return {};
  const aug: Augmentation = {};
  for (const part of v.split(',')) {
    const m = /^(flip|crop)(?::(\d+))?$/.exec(part.trim());
    if (!m) throw new ArgumentError(`--augment: expected 'none' or a list of flip, crop[:PIXELS], got '${v}'`);
    if (m[1] === 'flip') aug.flip = true;
    else aug.crop = m[2] !== undefined ? Number(m[2]) : 4;
  }
  return aug;
}

const defaultsText = ARCHS.map((a) => {
  const d = TRAIN_DEFAULTS[a];
  const aug = d.augment ? Object.entries(d.augment).map(([k, v]) => (k === 'crop' ? `crop:${v}` : k)).join(',') : 'none';
  return `  ${a}: --epochs ${d.epochs} --batch-size ${d.batchSize} --lr ${d.lr} --lr-schedule ${d.lrSchedule} --augment ${aug}${d.batchNorm ? ' --batch-norm' : ''}`;
}).join('\n');

/** `pcl train`: builds a victim model of the paper's Table 2, trains it and saves it. */
export function register(program: Command): void {
  program
    .command('train')
    .description('train a victim classifier (the paper\'s Table 2 architectures) and save it as a TensorFlow.js layers model')
    .requiredOption('--dataset <spec>', 'mnist | idx:DIR | cifar10:DIR | imagefolder:DIR | imagenet10:DIR')
    .addOption(new Option('--arch <name>', 'architecture').choices(ARCHS as string[]).makeOptionMandatory())
    .option('--width <x>', 'multiplier of the convolutional channel counts', positiveNumber('--width'), 1)
    .requiredOption('--out <dir>', 'output folder (model.json, weights.bin, metrics.json); replaced atomically')
    .option('--epochs <n>', 'training epochs (default: per architecture)', positiveInt('--epochs'))
    .option('--batch-size <n>', 'mini-batch size (default: per architecture)', positiveInt('--batch-size'))
    .option('--lr <x>', 'Adam learning rate (default: per architecture)', positiveNumber('--lr'))
    .addOption(
      new Option('--lr-schedule <name>', 'learning-rate schedule (default: per architecture)').choices(['constant', 'cosine']),
    )
    .option('--batch-norm', 'batch normalisation after every convolution (default: per architecture)')
    .option('--no-batch-norm', 'no batch normalisation (the paper\'s Table 2)')
    .option('--no-fast-dense', 'train a Flatten/Dense chain through tfjs-layers instead of the fused dense kernels (same numbers within float rounding; for comparison)')
    .option('--no-fast-batch-norm', 'train a batch-normalised CNN through tfjs-layers instead of the fused batch-norm kernel (for comparison)')
    .option('--init <dir>', 'warm start: begin from the weights of this `pcl train` folder (same arch, width, batch norm)')
    .option('--seed <n>', 'seed of the initial weights, shuffles and augmentation', nonNegativeInt('--seed'), 0)
    .addOption(
      new Option('--augment <list>', "data augmentation: none | flip | crop[:PIXELS] | flip,crop[:PIXELS] (default: per architecture)").argParser(
        parseAugment,
      ),
    )
    .addOption(new Option('--save-every-epoch', 'save the model after every epoch (metrics.json "complete": false until done)').hideHelp())
    .addOption(new Option('--limit <n>', 'train on a seeded random subset of N images (smoke tests)').argParser(positiveInt('--limit')).hideHelp())
    .addOption(
      new Option('--max-batches <n>', 'stop every epoch after N mini-batches (timing runs; metrics.json records "maxBatchesPerEpoch")')
        .argParser(positiveInt('--max-batches'))
        .hideHelp(),
    )
    .addHelpText('after', `\nDefaults per architecture:\n${defaultsText}\n\nPrints the metrics JSON on stdout.`)
    .action(async (o: {
      dataset: string;
      arch: Arch;
      width: number;
      out: string;
      epochs?: number;
      batchSize?: number;
      lr?: number;
      lrSchedule?: LrSchedule;
      seed: number;
      augment?: Augmentation;
      limit?: number;
      saveEveryEpoch?: boolean;
      init?: string;
      batchNorm?: boolean;
      maxBatches?: number;
      fastDense: boolean;
      fastBatchNorm: boolean;
    }) => {
      const metrics = await trainVictim({
        dataset: o.dataset,
        arch: o.arch,
        out: o.out,
        width: o.width,
        epochs: o.epochs,
        batchSize: o.batchSize,
        lr: o.lr,
        lrSchedule: o.lrSchedule,
        seed: o.seed,
        augment: o.augment,
        limit: o.limit,
        batchNorm: o.batchNorm,
        maxBatchesPerEpoch: o.maxBatches,
        saveEachEpoch: o.saveEveryEpoch === true,
        init: o.init,
        fastDense: o.fastDense,
        fastBatchNorm: o.fastBatchNorm,
      });
      const { history: _history, classNames: _classNames, ...summary } = metrics;
      process.stdout.write(`${JSON.stringify({ out: o.out, ...summary })}\n`);
    });
}
