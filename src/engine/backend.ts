import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { ArgumentError } from '../errors.js';
import { registerFastWasmKernels } from './kernels/index.js';
import { nativeKernelsActive, registerNativeKernels, unregisterNativeKernels } from './native-kernels.js';
import type { NativeLoad } from './native-types.js';
import { guardWasmHeap, type MallocModule } from './heap-guard.js';

export type BackendName = 'wasm' | 'cpu';

export interface EngineInfo {
  backend: BackendName;
  simd: boolean;
  tfjsVersion: string;
  fastKernels: string[];
  /**
   * The native engine (oneDNN kernels on all cores, see README § Native engine) when active:
   * the oneDNN version, the threads its kernels use from this thread, and the kernels it runs.
   */
  native?: { onednn: string; threads: number; kernels: string[] };
  /** Why the native engine is not active (wasm: addon not built, `PCL_NATIVE=0`, …; cpu backend). */
  nativeReason?: string;
  /** One line saying which engine is active, for logs and `--help`. */
  summary: string;
}

let current: EngineInfo | undefined;

/**
 * How this platform loads the native engine. The core stays free of Node built-ins, so the loader
 * (`native.ts`: `node:module`, `node:fs`, …) is plugged in by the Node platform (`node-platform.ts`,
 * which the Node entry, the CLI and every `WorkerPool` worker call); without it, as in a browser,
 * the engine runs on the wasm kernels.
 */
let nativeLoader: (() => NativeLoad) | undefined;

/** Plugs in the platform's native-engine loader (Node: `loadNativeAddon`). */
export function registerNativeLoader(load: () => NativeLoad): void {
  nativeLoader = load;
}

function loadNative(): NativeLoad {
  return nativeLoader ? nativeLoader() : { reason: 'no native engine on this platform (Node only)' };
}

/** An environment variable where there is a `process` (Node), else undefined (browsers). */
function envVar(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

/**
 * Sets up TensorFlow.js and picks the backend: `wasm` (SIMD, the default) or `cpu`
 * (the pure-JS reference). The choice comes from `backend`, else `PCL_BACKEND`, else `wasm`.
 * On wasm it registers this library's replacement kernels (see `kernels/`), which compose
 * fast forward ops for the gradients the stock wasm backend lacks or runs slowly.
 * Idempotent: a second call with the same backend is free.
 */
export async function initEngine(backend?: BackendName | string): Promise<EngineInfo> {
  // no `process` in browsers: read the environment only where there is one
  const want = (backend ?? envVar('PCL_BACKEND') ?? 'wasm') as string;
  if (want !== 'wasm' && want !== 'cpu') {
    throw new ArgumentError(`backend: expected 'wasm' or 'cpu', got '${want}'`);
  }
  const nativeOff = envVar('PCL_NATIVE') === '0';
  if (current && current.backend === want && tf.getBackend() === want && (nativeOff ? !current.native : true)) {
    return current;
  }
  let fastKernels: string[] = [];
  let native: EngineInfo['native'];
  let nativeReason: string | undefined = want === 'cpu' ? 'the native engine runs only on the wasm backend' : undefined;
  if (want === 'wasm') {
    fastKernels = registerFastWasmKernels();
    const load = loadNative();
    if (load.addon) {
      const kernels = registerNativeKernels(load.addon);
      const i = load.addon.info();
      native = { onednn: i.onednn, threads: i.threads, kernels };
    } else {
      if (nativeKernelsActive()) unregisterNativeKernels();
      nativeReason = load.reason;
    }
  }
  const ok = await tf.setBackend(want);
  if (!ok) throw new ArgumentError(`backend: TensorFlow.js could not initialise the '${want}' backend`);
  await tf.ready();
  // an exhausted heap raises ResourceError instead of corrupting memory (see heap-guard.ts)
  if (want === 'wasm') guardWasmHeap((tf.backend() as unknown as { wasm: MallocModule }).wasm);
  const simd = want === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : false;
  const summary =
    want === 'cpu'
      ? `engine: tfjs ${tf.version.tfjs} cpu backend (pure JS reference)`
      : native
        ? `engine: native (oneDNN ${native.onednn}, ${native.threads} thread${native.threads === 1 ? '' : 's'}) ` +
          `for convolutions, matMul, max pooling and large multiplies and sums, tfjs ${tf.version.tfjs} wasm${simd ? ' SIMD' : ''} for the rest`
        : `engine: tfjs ${tf.version.tfjs} wasm${simd ? ' SIMD' : ''}, single-threaded (native engine off: ${nativeReason})`;
  current = { backend: want, simd, tfjsVersion: tf.version.tfjs, fastKernels, native, nativeReason, summary };
  if (logEngine) process.stderr.write(`${summary}\n`);
  return current;
}

let logEngine = false;

/** Makes {@link initEngine} print its {@link EngineInfo.summary} line on stderr (the CLI turns this on). */
export function setEngineLogging(on: boolean): void {
  logEngine = on;
}

/**
 * Which engine `initEngine()` would pick, without initialising TensorFlow.js (for `--help`):
 * the native engine when its addon loads and `PCL_NATIVE` is not `0`, else why not.
 */
export function nativeEngineStatus(): string {
  const load = loadNative();
  if (!load.addon) return `engine: wasm, single-threaded (native engine off: ${load.reason})`;
  const i = load.addon.info();
  return `engine: native (oneDNN ${i.onednn}, ${i.threads} threads) on the wasm backend; PCL_NATIVE=0 turns it off`;
}

/** The engine set up by the last `initEngine`, or undefined. */
export function engineInfo(): EngineInfo | undefined {
  return current;
}

export { tf };
