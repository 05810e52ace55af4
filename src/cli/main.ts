import { Command, CommanderError } from 'commander';
import { registerNodePlatform } from '../node-platform.js';
import { setProgressEnabled } from '../util/progress.js';
import { nativeEngineStatus, setEngineLogging } from '../engine/backend.js';
import { PACKAGE_VERSION } from '../version.js';
import { register as registerAttack } from './commands/attack.js';
import { register as registerChallenge } from './commands/challenge.js';
import { register as registerDefend } from './commands/defend.js';
import { register as registerDetect } from './commands/detect.js';
import { register as registerEvaluate } from './commands/evaluate.js';
import { register as registerReproduce } from './commands/reproduce.js';
import { register as registerTrain } from './commands/train.js';

/**
 * Builds the `pcl` program. Each command lives in `commands/NAME.ts` and exports
 * `register(program)`; commands only parse arguments and call the public API.
 */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('pcl')
    .description('Parallel Checkpointing Learners: unsupervised adversarial-example detection for TensorFlow.js classifiers')
    .version(PACKAGE_VERSION)
    .option('--backend <name>', "tfjs backend: 'wasm' (default) or 'cpu'; also PCL_BACKEND")
    .option('--quiet', 'no progress bars on stderr')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const registrations: Array<(p: Command) => void> = [
    // commands register themselves here
    registerTrain,
    registerAttack,
    registerDefend,
    registerDetect,
    registerEvaluate,
    registerReproduce,
    registerChallenge,
  ];
  for (const r of registrations) r(program);
  // Which engine runs (native oneDNN kernels or wasm), in every command's --help.
  for (const cmd of [program, ...program.commands]) cmd.addHelpText('after', () => `\n${nativeEngineStatus()}`);
  return program;
}

/** Entry point used by `bin/pcl.js`. Throws on bad input (the launcher prints one line, exits 1). */
export async function main(argv: string[]): Promise<void> {
  registerNodePlatform();
  // `pcl … | head`: a reader that closes the pipe early ends the command quietly, as for any Unix tool
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = buildProgram();
  program.hook('preAction', (cmd) => {
    const opts = cmd.optsWithGlobals() as { quiet?: boolean; backend?: string };
    setProgressEnabled(!opts.quiet);
    if (opts.backend) process.env.PCL_BACKEND = opts.backend;
    setEngineLogging(!opts.quiet); // one stderr line naming the engine when a command starts it
  });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help/version are exit code 0; usage errors were already printed by commander
      if (e.exitCode === 0) return;
      process.exit(e.exitCode || 1);
    }
    throw e;
  }
}
