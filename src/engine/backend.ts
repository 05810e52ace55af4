import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { ArgumentError } from '../errors.js';
import { registerFastWasmKernels } from './kernels/index.js';

export type BackendName = 'wasm' | 'cpu';

export interface EngineInfo {
  backend: BackendName;
  simd: boolean;
  tfjsVersion: string;
  fastKernels: string[];
}

let current: EngineInfo | undefined;

/**
 * Sets up TensorFlow.js and picks the backend: `wasm` (SIMD, the default) or `cpu`
 * (the pure-JS reference). The choice comes from `backend`, else `PCL_BACKEND`, else `wasm`.
 * On wasm it registers this library's replacement kernels (see `kernels/`), which compose
 * fast forward ops for the gradients the stock wasm backend lacks or runs slowly.
 * Idempotent: a second call with the same backend is free.
 */
export async function initEngine(backend?: BackendName | string): Promise<EngineInfo> {
  // no `process` in browsers: read the environment only where there is one
  const want = (backend ?? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.PCL_BACKEND ?? 'wasm') as string;
  if (want !== 'wasm' && want !== 'cpu') {
    throw new ArgumentError(`backend: expected 'wasm' or 'cpu', got '${want}'`);
  }
  if (current && current.backend === want && tf.getBackend() === want) return current;
  let fastKernels: string[] = [];
  if (want === 'wasm') fastKernels = registerFastWasmKernels();
  const ok = await tf.setBackend(want);
  if (!ok) throw new ArgumentError(`backend: TensorFlow.js could not initialise the '${want}' backend`);
  await tf.ready();
  current = {
    backend: want,
    simd: want === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : false,
    tfjsVersion: tf.version.tfjs,
    fastKernels,
  };
  return current;
}

/** The engine set up by the last `initEngine`, or undefined. */
export function engineInfo(): EngineInfo | undefined {
  return current;
}

export { tf };
