/**
 * Node-only: plugs the platform parts into the platform-neutral core — the file-system bundle store
 * (paths and `file://`), worker threads (`WorkerPool`), the terminal progress bar and the native
 * engine's loader (oneDNN addon, see README § Native engine). The Node entry
 * (`pcl-defense/node`, which Node resolves `pcl-defense` to) and the CLI call it on import.
 */
import { registerNativeLoader } from './engine/backend.js';
import { loadNativeAddon } from './engine/native.js';
import { WorkerPool } from './engine/pool.js';
import { registerFileSystemStore } from './io/store/node-fs.js';
import { registerPoolFactory } from './util/parallel.js';
import { ttyProgressBar } from './util/progress-tty.js';
import { registerTtyProgressBar } from './util/progress.js';

let done = false;
/** Idempotent. */
export function registerNodePlatform(): void {
  if (done) return;
  done = true;
  registerNativeLoader(loadNativeAddon);
  registerFileSystemStore();
  registerPoolFactory((size) => new WorkerPool({ size }));
  registerTtyProgressBar(ttyProgressBar);
}
