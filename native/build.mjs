#!/usr/bin/env node
/**
 * Builds the optional native engine (build/Release/pcl_native.node) with node-gyp against the
 * system's oneDNN (Debian: `apt-get install libdnnl-dev`). Run by `npm install`/`npm ci` through the
 * package's `install` script and by `npm run build:native`.
 *
 * Never fails the install: without oneDNN, a C++ compiler, node-gyp or Node's headers, or with
 * PCL_NATIVE=0, it says why on stderr and exits 0; the library then runs on its wasm kernels.
 * Offline: node-gyp is pointed at the headers that ship with this Node (no download).
 * `--strict` (used by CI) makes a failed build exit 1 instead.
 */
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const say = (msg) => process.stderr.write(`pcl-defense native engine: ${msg}\n`);

function skip(why) {
  say(`not built (${why}); the wasm engine will be used.`);
  process.exit(strict ? 1 : 0);
}

if (process.env.PCL_NATIVE === '0') skip('PCL_NATIVE=0');
if (process.platform !== 'linux' || process.arch !== 'x64') skip(`${process.platform}/${process.arch} is not supported, only linux/x64`);
const incDirs = ['/usr/include', '/usr/local/include', ...(process.env.CPATH ?? '').split(':').filter(Boolean)];
if (!incDirs.some((d) => existsSync(path.join(d, 'dnnl.hpp')))) skip('oneDNN headers not found: apt-get install libdnnl-dev');
const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
if (!which(process.env.CXX ?? 'g++') || !which('make') || !which('python3')) skip('a C++ compiler, make and python3 are needed');

const require = createRequire(import.meta.url);
let nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp || !existsSync(nodeGyp)) {
  // npm bundles node-gyp next to itself.
  const npmDir = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  const bundled = path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  nodeGyp = existsSync(bundled) ? bundled : undefined;
  if (!nodeGyp) {
    try {
      nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
    } catch {
      skip('node-gyp not found');
    }
  }
}
try {
  require.resolve('node-addon-api');
} catch {
  skip('node-addon-api is not installed');
}
const nodeDir = path.resolve(path.dirname(process.execPath), '..');
const args = [nodeGyp, 'rebuild', '--release', `--jobs=${process.env.JOBS ?? '2'}`];
// Use this Node's own headers when they are there (no download from nodejs.org).
if (existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodeDir}`);
say('building with node-gyp against oneDNN…');
const res = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (res.status !== 0) {
  process.stderr.write(res.stderr ?? '');
  skip(`node-gyp exited with ${res.status}`);
}
say('built build/Release/pcl_native.node.');
