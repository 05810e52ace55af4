import { Command, Option } from 'commander';
import { detectImages } from '../../pipeline/detect.js';
import { percent } from '../args.js';

/** `pcl detect`: checks images with a saved detector bundle; prints JSON with raw scores. */
export function register(program: Command): void {
  program
    .command('detect')
    .description('flag adversarial inputs with a detector bundle; prints one JSON object (raw scores included) on stdout')
    .requiredOption('--defender <dir>', 'detector bundle folder (from `pcl defend`)')
    .requiredOption('--input <path>', 'IDX file (float32 in [0,1] or uint8), a PNG, or a folder of PNGs')
    .option('--sp <percent>', 'security parameter (default: the bundle\'s)', percent('--sp'))
    .addOption(new Option('--fusion <rule>', "decision rule (default: the bundle's)").choices(['or', 'calibrated']))
    .action(async (o) => {
      const out = await detectImages(o.defender, o.input, { sp: o.sp, fusion: o.fusion });
      process.stdout.write(`${JSON.stringify(out)}\n`);
    });
}
