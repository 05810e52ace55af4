import { Command, Option } from 'commander';
import { packChallenge } from '../../challenge/pack.js';
import { scoreChallenge } from '../../challenge/score.js';
import { info } from '../../util/progress.js';
import { nonNegativeInt, percent, positiveInt, positiveNumber } from '../args.js';

/** `pcl challenge pack|score`: freeze a PCL challenge and score submissions against it. */
export function register(program: Command): void {
  const ch = program.command('challenge').description('the PCL challenge: freeze a victim + detector + rows + budget (pack), score submissions (score)');
  ch.command('pack')
    .description('freeze a challenge folder: detector bundle (with its victim), the clean rows to attack, the budget and the SP; every file sha256-listed in challenge.json')
    .requiredOption('--defender <dir>', 'detector bundle folder (from `pcl defend`); its victim copy is the challenge victim')
    .requiredOption('--dataset <spec>', 'dataset whose test split the rows come from: mnist | idx:DIR | cifar10:DIR | imagenet10:DIR')
    .requiredOption('--n <n>', 'rows: correctly classified test images in a seeded random order', positiveInt('--n'))
    .requiredOption('--l2 <b>', 'L2 budget per row', positiveNumber('--l2'))
    .option('--linf <b>', 'L∞ budget per row (optional)', positiveNumber('--linf'))
    .requiredOption('--sp <percent>', 'security parameter at which submissions are judged', percent('--sp'))
    .addOption(new Option('--fusion <rule>', "decision rule (default: the bundle's)").choices(['or', 'calibrated']))
    .option('--seed <n>', 'seed of the row order', nonNegativeInt('--seed'), 0)
    .requiredOption('--out <dir>', 'challenge folder (written atomically)')
    .action(async (o) => {
      const m = await packChallenge({ defender: o.defender, dataset: o.dataset, n: o.n, l2: o.l2, linf: o.linf, sp: o.sp, fusion: o.fusion, seed: o.seed, out: o.out, log: info });
      const { sha256, ...rest } = m;
      process.stdout.write(`${JSON.stringify({ out: o.out, ...rest, files: Object.keys(sha256).length })}\n`);
    });
  ch.command('score')
    .description('check a submission (IDX float32 [n,h,w,c], one row per challenge row, in [0,1], within budget) and print its leaderboard entry (JSON)')
    .requiredOption('--challenge <dir>', 'challenge folder (from `pcl challenge pack`)')
    .requiredOption('--submission <file>', 'IDX float32 [n,h,w,c] adversarial images, row i attacking challenge row i')
    .option('--leaderboard <file>', 'append the entry to this JSON leaderboard (created if missing; atomic)')
    .option('--name <name>', 'name on the leaderboard (default: the submission file name)')
    .option('--brief', 'print the entry without its per-row verdicts')
    .action(async (o) => {
      const e = await scoreChallenge({ challenge: o.challenge, submission: o.submission, leaderboard: o.leaderboard, name: o.name });
      const out = o.brief ? { ...e, rows: undefined } : e;
      process.stdout.write(`${JSON.stringify(out)}\n`);
    });
}
