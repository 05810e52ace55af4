/**
 * Runs benchmarks one after another (`npm run bench`): every `bench/*.bench.ts`, or the ones named.
 *
 *   npm run bench                       # all of them, in name order (hours on 2 cores)
 *   npm run bench -- omp kernels        # bench/omp.bench.ts then bench/kernels.bench.ts
 *   npm run bench -- --list             # the names, one a line
 *   npm run bench -- omp -- --repeat 3  # arguments after a second `--` go to every bench run
 *
 * Each bench prints its own figures (with machine and versions); this runner prints, on stderr, the
 * wall time and exit status of each and exits non-zero if any failed. Benches that need a trained
 * victim or a dataset say so themselves and fail with their own message.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();

const args = process.argv.slice(2);
const split = args.indexOf('--');
const names = split < 0 ? args : args.slice(0, split);
const passThrough = split < 0 ? [] : args.slice(split + 1);

if (names.includes('--list')) {
  console.log(available.join('\n'));
  process.exit(0);
}
const unknown = names.filter((n) => !available.includes(n.replace(/\.bench\.ts$/, '')));
if (unknown.length > 0) {
  console.error(`run-all: unknown bench ${unknown.map((n) => `'${n}'`).join(', ')}; expected one of ${available.join(', ')}`);
  process.exit(2);
}
const chosen = names.length > 0 ? names.map((n) => n.replace(/\.bench\.ts$/, '')) : available;
const tsx = path.join(here, '..', 'node_modules', '.bin', 'tsx');
const summary: string[] = [];
let failed = 0;
for (const name of chosen) {
  console.error(`run-all: ${name} (${chosen.indexOf(name) + 1}/${chosen.length})`);
  const t0 = performance.now();
  const r = spawnSync(tsx, [path.join(here, `${name}.bench.ts`), ...passThrough], { stdio: 'inherit' });
  const seconds = (performance.now() - t0) / 1000;
  const status = r.error ? `error: ${r.error.message}` : r.status === 0 ? 'ok' : `exit ${r.status ?? r.signal}`;
  if (status !== 'ok') failed++;
  summary.push(`${name.padEnd(20)} ${status.padEnd(10)} ${seconds.toFixed(1)} s`);
}
console.error(`run-all: ${chosen.length - failed} of ${chosen.length} benches ok\n${summary.join('\n')}`);
process.exit(failed > 0 ? 1 : 0);
