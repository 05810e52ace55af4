/**
 * A guard on the wasm backend's heap allocations.
 *
 * tfjs's wasm backend allocates every tensor with the module's `_malloc` and uses the result
 * unchecked. The heap is a 32-bit wasm memory (at most 4 GiB): when it is full, `_malloc` returns 0
 * and the next kernel writes over the start of the heap or dies with a bare "RuntimeError: memory
 * access out of bounds"; a single tensor of 4 GiB or more even wraps around to a small size
 * (the size argument is a 32-bit integer) and is then written far past its end. Both happened in
 * practice (a 300-filter CNN attacked at batch 100 with its guide images). {@link guardWasmHeap}
 * wraps `_malloc` so that both cases raise a {@link ResourceError} that says what to do instead.
 */
import { ResourceError } from '../errors.js';

/** The part of the wasm module the guard touches. */
export interface MallocModule {
  _malloc: (bytes: number) => number;
  HEAPU8?: Uint8Array;
}

/** The wasm32 heap's ceiling: 65,536 pages of 64 KiB, less the one the runtime keeps (emscripten's getHeapMax). */
export const WASM_HEAP_MAX = 4294901760;

const guarded = new WeakSet<object>();

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/**
 * Wraps `module._malloc` (idempotent per module): a request larger than the heap's ceiling, or one
 * that the allocator refuses (returns 0), throws `ResourceError` instead of returning an unusable
 * address. Returns the module.
 */
export function guardWasmHeap<M extends MallocModule>(module: M): M {
  if (guarded.has(module)) return module;
  const malloc = module._malloc.bind(module);
  module._malloc = (bytes: number): number => {
    const advice = 'the wasm heap holds at most 4 GiB: use a smaller batch (e.g. --batch-size) or fewer images at once';
    if (bytes > WASM_HEAP_MAX) {
      throw new ResourceError(`cannot allocate a tensor of ${gib(bytes)}: ${advice}`);
    }
    const ptr = malloc(bytes);
    if (ptr === 0 && bytes > 0) {
      const used = module.HEAPU8 ? ` (heap now ${gib(module.HEAPU8.length)})` : '';
      throw new ResourceError(`out of memory allocating ${gib(bytes)}${used}: ${advice}`);
    }
    return ptr;
  };
  guarded.add(module);
  return module;
}
