/**
 * Worker threads where the platform has them. The core asks {@link createPool} for a pool; the
 * Node entry registers the engine's `WorkerPool` (worker_threads). Where none is registered (a
 * browser bundle of the core), `createPool` answers undefined and callers run the work in-process.
 */

/** The part of the engine's `WorkerPool` the core uses. */
export interface ParallelPool {
  map<P, R>(
    module: string | URL,
    exportName: string,
    payloads: readonly P[],
    opts?: { transfer?: boolean; onProgress?: (done: number, total: number) => void },
  ): Promise<R[]>;
  close(): Promise<void>;
}

export type PoolFactory = (size: number) => ParallelPool;
let factory: PoolFactory | undefined;

/** Registers how to make a pool of `size` worker threads (the Node entry registers `WorkerPool`). */
export function registerPoolFactory(f: PoolFactory | undefined): void {
  factory = f;
}

/** A pool of `size` workers, or undefined where this platform registered none. Caller closes it. */
export function createPool(size: number): ParallelPool | undefined {
  return factory?.(size);
}

/** Yields to the event loop (timers, I/O, the page) between long synchronous steps; `setImmediate` is Node-only. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
