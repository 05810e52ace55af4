import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ArgumentError } from '../errors.js';
import { initEngine, type BackendName } from './backend.js';
import { collectTransferables, type ReplyMessage, type TaskMessage } from './pool-protocol.js';

/**
 * The default number of workers: `PCL_WORKERS` when set (a positive integer), else the number
 * of cores Node may use (`os.availableParallelism()`).
 *
 * @throws ArgumentError when `PCL_WORKERS` is set but not a positive integer.
 */
export function defaultPoolSize(): number {
  const env = process.env.PCL_WORKERS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) {
      throw new ArgumentError(`PCL_WORKERS: expected a positive integer, got '${env}'`);
    }
    return n;
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Number of worker threads; 1 runs every task in this thread. Default {@link defaultPoolSize}. */
  size?: number;
  /** Backend each worker initialises (`initEngine`); default: `PCL_BACKEND`, else `wasm`. */
  backend?: BackendName;
  /** Run tasks in this thread instead of workers. Default: `size === 1`. */
  inProcess?: boolean;
}

/** Options of {@link WorkerPool.map}. */
export interface MapOptions {
  /** Called after each task completes with (tasks done, total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Move (transfer) the payloads' ArrayBuffers to the workers instead of copying them. Faster
   * for big inputs, but those buffers become detached (unusable) here, so never set it when two
   * payloads share a buffer or the caller still needs the data. Default false. Results are
   * always transferred back (they belong to nobody else).
   */
  transfer?: boolean;
}

/** A module specifier a worker can import: a `file:` URL, an absolute path, or a URL object. */
export type ModuleRef = string | URL;

interface Task {
  msg: TaskMessage;
  transfer: ArrayBuffer[];
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy?: Task;
}

let nextTaskId = 1;

/** Normalises a module reference to a URL string (absolute paths become `file:` URLs). */
function moduleUrl(ref: ModuleRef): string {
  const s = ref instanceof URL ? ref.href : ref;
  if (/^[a-zA-Z][a-zA-Z\d+.-]*:/.test(s) && !/^[a-zA-Z]:[\\/]/.test(s)) return s;
  if (s.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(s)) return pathToFileURL(s).href;
  throw new ArgumentError(`moduleUrl: expected a file: URL or an absolute path, got '${s}'`);
}

/** Rebuilds a worker error: same name and message, worker stack appended to ours. */
function reviveError(e: { name: string; message: string; stack?: string }): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = `${e.name}: ${e.message}\n    [in worker]\n${e.stack.split('\n').slice(1).join('\n')}`;
  return err;
}

/**
 * A small pool of `worker_threads` for independent, CPU-bound work (per-class dictionary
 * learning, attack batches, evaluation shards). The wasm backend is single-threaded, so this is
 * the only way to use more than one core.
 *
 * A task is a named async export of an ES module, called with a structured-cloneable payload
 * (typed arrays, plain objects; not tensors — send `dataSync()` arrays and rebuild tensors in
 * the task). Each worker initialises the engine once (`initEngine`, replacement kernels
 * included) and caches imported modules, so per-task overhead is one message round trip plus
 * the payload copy.
 *
 * Works from compiled `dist/` JavaScript and from TypeScript sources (vitest, tsx): a worker
 * started for a `.ts` task module, or from a `.ts` copy of this file, is given the `tsx` loader.
 * Pass task modules as `import.meta.url` of the module defining the task (the usual case) or
 * `new URL('./other.js', import.meta.url)` — with sources, the extension must match (`.ts`).
 *
 * With `size` 1 tasks run in this thread (no workers, same results; `inProcess: false` forces
 * one worker), so callers need no separate serial code path. With `inProcess: true` and a
 * larger size, tasks also run here, one at a time.
 *
 * @example
 * ```ts
 * export async function fitClass(p: { x: Float32Array; k: number }) { ...; return { atoms }; }
 * const pool = new WorkerPool();                       // defaultPoolSize() workers
 * try { const out = await pool.map(import.meta.url, 'fitClass', payloads); } finally { await pool.close(); }
 * ```
 */
export class WorkerPool {
  readonly size: number;
  private readonly backend?: BackendName;
  private readonly inProcess: boolean;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private closed = false;

  constructor(opts: WorkerPoolOptions = {}) {
    const size = opts.size ?? defaultPoolSize();
    if (!Number.isInteger(size) || size < 1) {
      throw new ArgumentError(`WorkerPool: size must be a positive integer, got ${size}`);
    }
    this.size = size;
    this.backend = opts.backend;
    this.inProcess = opts.inProcess ?? size === 1;
  }

  /** Whether tasks run in worker threads rather than in this thread. */
  get usesWorkers(): boolean {
    return !this.inProcess;
  }

  /**
   * Runs `module[exportName](payload)` for every payload, at most `size` at a time, and resolves
   * to the results in payload order. Rejects with the first task error (same message and name as
   * thrown in the task); tasks of this call not yet started are then dropped.
   */
  async map<P, R>(module: ModuleRef, exportName: string, payloads: readonly P[], opts: MapOptions = {}): Promise<R[]> {
    if (this.closed) throw new Error('WorkerPool.map: the pool is closed');
    const url = moduleUrl(module);
    const total = payloads.length;
    let done = 0;
    const tick = () => opts.onProgress?.(++done, total);
    if (!this.usesWorkers) {
      await initEngine(this.backend);
      const mod = (await import(url)) as Record<string, unknown>;
      const fn = mod[exportName];
      if (typeof fn !== 'function') {
        throw new TypeError(`WorkerPool: module ${url} has no exported function '${exportName}'`);
      }
      const out: R[] = [];
      for (const p of payloads) {
        out.push((await (fn as (p: P) => Promise<R> | R)(p)) as R);
        tick();
      }
      return out;
    }
    let failed = false;
    const mine: Task[] = [];
    const promises = payloads.map(
      (payload) =>
        new Promise<R>((resolve, reject) => {
          const task: Task = {
            msg: { id: nextTaskId++, moduleUrl: url, exportName, payload },
            transfer: opts.transfer ? collectTransferables(payload) : [],
            resolve: (v) => {
              tick();
              resolve(v as R);
            },
            reject: (e) => {
              if (!failed) {
                failed = true;
                // Drop this call's tasks that have not started.
                for (const t of mine) {
                  const i = this.queue.indexOf(t);
                  if (i >= 0) this.queue.splice(i, 1);
                }
              }
              reject(e);
            },
          };
          mine.push(task);
          this.queue.push(task);
        }),
    );
    this.pump(url);
    return Promise.all(promises);
  }

  /** Runs one task; see {@link WorkerPool.map}. */
  async run<P, R>(module: ModuleRef, exportName: string, payload: P, opts: MapOptions = {}): Promise<R> {
    const [r] = await this.map<P, R>(module, exportName, [payload], opts);
    return r as R;
  }

  /** Terminates the workers; tasks still queued or running reject. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('WorkerPool: closed while tasks were pending');
    for (const t of this.queue.splice(0)) t.reject(err);
    const slots = this.slots.splice(0);
    for (const s of slots) {
      if (s.busy) s.busy.reject(err);
      s.busy = undefined;
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Starts queued tasks on idle workers, spawning workers up to `size`. */
  private pump(hintUrl: string): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.spawn(hintUrl);
      if (!slot) return;
      const task = this.queue.shift()!;
      slot.busy = task;
      slot.worker.ref();
      try {
        slot.worker.postMessage(task.msg, task.transfer);
      } catch (e) {
        slot.busy = undefined;
        task.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
    for (const s of this.slots) if (!s.busy) s.worker.unref();
  }

  private spawn(hintUrl: string): Slot {
    const self = import.meta.url;
    const fromSource = self.endsWith('.ts');
    const entry = new URL(fromSource ? './pool-worker.ts' : './pool-worker.js', self).href;
    const options = { workerData: { backend: this.backend }, execArgv: [] as string[] };
    // A worker loading TypeScript first registers tsx's loader in its own thread (loader flags in
    // `execArgv` do not reach a worker's entry module), then imports the entry.
    const worker =
      fromSource || hintUrl.endsWith('.ts')
        ? new Worker(
            `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`,
            { ...options, eval: true },
          )
        : new Worker(new URL(entry), options);
    const slot: Slot = { worker };
    worker.on('message', (reply: ReplyMessage) => {
      const task = slot.busy;
      if (!task || task.msg.id !== reply.id) return;
      slot.busy = undefined;
      if (reply.ok) task.resolve(reply.result);
      else task.reject(reviveError(reply.error));
      if (!this.closed) this.pump(hintUrl);
    });
    const fail = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const task = slot.busy;
      slot.busy = undefined;
      if (task) task.reject(err);
      if (!this.closed) this.pump(hintUrl);
    };
    worker.on('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`WorkerPool: worker exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }
}

/**
 * `file:` URL of tsx's ESM API (its `register()` installs the TypeScript loader in a thread).
 * The `import` condition of the `tsx/esm/api` export is needed (the CommonJS build registers
 * its hooks relative to the wrong directory when imported from ESM).
 */
function tsxApiUrl(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
    const exp = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> })
      .exports['./esm/api']!.import.default;
    return new URL(exp, pathToFileURL(pkg)).href;
  } catch {
    throw new Error('WorkerPool: running TypeScript task modules in workers needs the tsx package (npm i -D tsx)');
  }
}
