import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { WASM_HEAP_MAX, guardWasmHeap } from '../../src/engine/heap-guard.js';
import { ResourceError } from '../../src/errors.js';

describe('guardWasmHeap', () => {
  test('a refused allocation (malloc returns 0) throws ResourceError, and the guard wraps once', () => {
    let calls = 0;
    const mod = { _malloc: (n: number) => (calls++, n > 100 ? 0 : 64), HEAPU8: new Uint8Array(1024) };
    guardWasmHeap(mod);
    guardWasmHeap(mod); // idempotent: not wrapped twice
    expect(mod._malloc(16)).toBe(64);
    expect(() => mod._malloc(4096)).toThrow(ResourceError);
    expect(() => mod._malloc(4096)).toThrow(/out of memory allocating 0\.00 GiB \(heap now 0\.00 GiB\): the wasm heap holds at most 4 GiB/);
    expect(mod._malloc(0)).toBe(64); // zero bytes is not a failure
    expect(calls).toBe(4);
  });

  test('a request past the 4 GiB ceiling never reaches malloc (it would wrap to a small size)', () => {
    let calls = 0;
    const mod = { _malloc: (_n: number) => (calls++, 8) };
    guardWasmHeap(mod);
    expect(() => mod._malloc(WASM_HEAP_MAX + 8)).toThrow(/cannot allocate a tensor of 4\.00 GiB/);
    expect(calls).toBe(0);
  });
});

describe('on the wasm backend', () => {
  beforeAll(async () => {
    await initEngine('wasm');
  });

  test('a tensor of more than 4 GiB is a ResourceError, not a wrapped allocation or a crash, and the engine still works', () => {
    const before = tf.memory().numTensors;
    // 2^30 + 16 floats: 4 GiB + 64 bytes, which a 32-bit malloc size would wrap to 64 bytes
    expect(() => tf.zeros([2 ** 30 + 16])).toThrow(ResourceError);
    expect(tf.memory().numTensors).toBe(before);
    const t = tf.add(tf.ones([3]), 1);
    expect(Array.from(t.dataSync())).toEqual([2, 2, 2]);
    t.dispose();
  });
});
