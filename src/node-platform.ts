/**
 * Node-only: plugs the platform parts into the platform-neutral core — the file-system bundle store
 * (paths and `file://`), worker threads (`WorkerPool`) and the terminal progress bar. The Node entry
 * (`pcl-defense/node`, which Node resolves `pcl-defense` to) and the CLI call it on import.
 */
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
  registerFileSystemStore();
  registerPoolFactory((size) => new WorkerPool({ size }));
  registerTtyProgressBar(ttyProgressBar);
}
