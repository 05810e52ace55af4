/**
 * A short, deterministic fingerprint of float arrays (e.g. a model's weights): two FNV-1a style lanes
 * over their 32-bit words, 16 hex digits. Not cryptographic — it tells which model a bundle was fitted
 * with, in Node and in the browser alike (no `node:crypto`).
 */
export function floatsFingerprint(arrays: Iterable<Float32Array>): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  let n = 0;
  for (const a of arrays) {
    const w = new Uint32Array(a.buffer, a.byteOffset, a.length);
    for (let i = 0; i < w.length; i++) {
      const v = w[i]!;
      h1 = Math.imul(h1 ^ v, 0x01000193);
      h2 = Math.imul(h2 ^ ((v << 13) | (v >>> 19)), 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    n += w.length;
    h1 = Math.imul(h1 ^ n, 0x01000193); // array boundaries and lengths count
  }
  const hex = (h: number) => (h >>> 0).toString(16).padStart(8, '0');
  return hex(h1) + hex(h2);
}
