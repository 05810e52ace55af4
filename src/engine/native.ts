/**
 * Loader of the optional native engine: a Node addon (`native/src/addon.cc`, built at install by
 * `native/build.mjs` against Debian's oneDNN) that runs the heavy tfjs kernels — convolutions and
 * their gradients, matrix products, max pooling — on the wasm backend's tensors in place, on all
 * cores. See `native-kernels.ts` for the kernels and README § "Native engine".
 *
 * Threads: oneDNN runs OpenMP threads for each call. The main thread uses every core Node may use;
 * a `WorkerPool` worker (any worker thread) uses `cores / PCL_WORKERS` (default pool size: the
 * core count; at least 1 thread), so a
 * pool of one worker per core runs the kernels single-threaded and never oversubscribes. The
 * environment variable `PCL_NATIVE_THREADS` (a positive integer) overrides both.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { ArgumentError } from '../errors.js';

export type { NativeAddon, NativeLoad } from './native-types.js';
import type { NativeAddon, NativeLoad } from './native-types.js';

let loaded: NativeLoad | undefined;
const nodeRequire = createRequire(import.meta.url);

/** Where the built addon may be, from this file in `src/engine/` or `dist/src/engine/`. */
function candidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const rel = path.join('build', 'Release', 'pcl_native.node');
  return [path.resolve(here, '..', '..', rel), path.resolve(here, '..', '..', '..', rel)];
}

/**
 * Loads the native addon once (per thread). Never throws: when `PCL_NATIVE=0`, outside Node on
 * linux/x64, or when the addon was not built or cannot load (e.g. oneDNN missing), it returns
 * the reason instead.
 */
export function loadNativeAddon(): NativeLoad {
  if (process.env.PCL_NATIVE === '0') return { reason: 'disabled by PCL_NATIVE=0' };
  if (loaded) return loaded;
  const found = candidates().find((p) => existsSync(p));
  if (!found) {
    loaded = { reason: 'addon not built (apt-get install libdnnl-dev, then npm ci or npm run build:native)' };
    return loaded;
  }
  const threads = nativeThreads(); // throws on a bad PCL_NATIVE_THREADS
  // OpenMP threads sleep between kernels instead of spinning (read by libgomp when the addon
  // loads it): the JS work between two native kernels is single-threaded, and on a shared or
  // loaded machine spinning threads cost the other processes and, when descheduled, ourselves
  // (CNN input gradient measured 2.2× faster at load 23 on 2 cores). Set OMP_WAIT_POLICY to override.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  let addon: NativeAddon;
  try {
    addon = nodeRequire(found) as NativeAddon;
  } catch (e) {
    loaded = { reason: `addon failed to load: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
    return loaded;
  }
  addon.setThreads(threads);
  loaded = { addon, path: found };
  return loaded;
}


/**
 * OpenMP threads for native kernels called from this thread: `PCL_NATIVE_THREADS` when set, else
 * all cores on the main thread and `max(1, floor(cores / pool size))` in a worker thread, the pool
 * size being `PCL_WORKERS` or the core count (as `defaultPoolSize()`).
 *
 * @throws ArgumentError when `PCL_NATIVE_THREADS` is set but not a positive integer.
 */
export function nativeThreads(): number {
  const env = process.env.PCL_NATIVE_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) {
      throw new ArgumentError(`PCL_NATIVE_THREADS: expected a positive integer, got '${env}'`);
    }
    return n;
  }
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return isMainThread ? cores : Math.max(1, Math.floor(cores / poolSize(cores)));
}

/**
 * The default WorkerPool size, as `defaultPoolSize()` in pool.ts computes it (`PCL_WORKERS`, else
 * the core count); restated here because pool.ts imports the engine (no import cycle). An invalid
 * `PCL_WORKERS` counts as unset here: the pool itself rejects it.
 */
function poolSize(cores: number): number {
  const n = Number(process.env.PCL_WORKERS);
  return process.env.PCL_WORKERS && Number.isInteger(n) && n >= 1 ? n : cores;
}
