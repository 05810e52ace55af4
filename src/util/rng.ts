/**
 * Small seeded PRNG (mulberry32) used wherever the library needs reproducible randomness
 * outside of tfjs ops (subsets, patch sampling, target choice). Never use Math.random.
 */
export class Rng {
  private s: number;
  constructor(seed = 0) {
    this.s = (seed >>> 0) ^ 0x9e3779b9;
  }
  /** Uniform float in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal deviate (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** A fresh 31-bit seed, for handing to tfjs ops or sub-generators. */
  seed(): number {
    return this.int(0x7fffffff);
  }
  /** In-place Fisher–Yates shuffle; returns `a`. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
  /** `k` distinct indices from [0, n), in random order. */
  sample(n: number, k: number): Int32Array {
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    // partial Fisher–Yates: only the first k positions are needed
    for (let i = 0; i < Math.min(k, n); i++) {
      const j = i + this.int(n - i);
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    return idx.slice(0, Math.min(k, n));
  }
}
