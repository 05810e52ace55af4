import { Command } from 'commander';
import { reproduce } from '../../pipeline/reproduce.js';
import { nonNegativeInt, positiveInt } from '../args.js';
import { summarizeResults } from './summary.js';

/** `pcl reproduce`: the paper's whole pipeline on one dataset. */
export function register(program: Command): void {
  program
    .command('reproduce')
    .description('train the victim, fit PCL, run the paper\'s attacks and write results.json, table.md and report.html')
    .requiredOption('--dataset <spec>', 'mnist | cifar10:DIR | imagenet10:DIR')
    .requiredOption('--out <dir>', 'output folder (victim/, detector/, results.json, table.md, report.html)')
    .option('--quick', 'reduced version that runs in a few minutes')
    .option('--n <n>', 'test images to attack (default 1000; with --quick 300 on MNIST, 60 on CIFAR-10 and ImageNet-10)', positiveInt('--n'))
    .option('--seed <n>', 'seed of everything', nonNegativeInt('--seed'), 0)
    .option('--victim <dir>', 'use this trained victim (from `pcl train`) instead of training one')
    .action(async (o) => {
      const r = await reproduce({ dataset: o.dataset, out: o.out, quick: o.quick, n: o.n, seed: o.seed, victim: o.victim });
      process.stdout.write(`${JSON.stringify(summarizeResults(o.out, r))}\n`);
    });
}
