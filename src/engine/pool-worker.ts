/**
 * Worker-thread entry of {@link WorkerPool} (see `pool.ts`). Initialises the engine once, then
 * serves task messages: import the task module (cached by the module loader), call the named
 * async export with the payload, and post back the result, transferring its typed-array buffers.
 * Not part of the public API.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initEngine, registerNativeLoader, type BackendName } from './backend.js';
import { loadNativeAddon } from './native.js';
import { collectTransferables, type TaskMessage, type ReplyMessage } from './pool-protocol.js';

const port = parentPort;
if (!port) throw new Error('pool-worker: must run inside a worker thread (no parentPort)');

const { backend } = workerData as { backend?: BackendName };
// a worker is a fresh module graph: plug in the Node native-engine loader before the engine starts
registerNativeLoader(loadNativeAddon);
const ready = initEngine(backend);

port.on('message', (msg: TaskMessage) => {
  void (async () => {
    let reply: ReplyMessage;
    try {
      await ready;
      const mod = (await import(msg.moduleUrl)) as Record<string, unknown>;
      const fn = mod[msg.exportName];
      if (typeof fn !== 'function') {
        throw new TypeError(`WorkerPool: module ${msg.moduleUrl} has no exported function '${msg.exportName}'`);
      }
      const result: unknown = await (fn as (p: unknown) => unknown)(msg.payload);
      reply = { id: msg.id, ok: true, result };
      try {
        port.postMessage(reply, collectTransferables(result));
      } catch {
        // Some buffers cannot be moved (e.g. a view of wasm memory): copy instead.
        port.postMessage(reply);
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      reply = { id: msg.id, ok: false, error: { name: err.name, message: err.message, stack: err.stack } };
      port.postMessage(reply);
    }
  })();
});
