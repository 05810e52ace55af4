/** Any typed array this library concatenates. */
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** Concatenates typed arrays of one kind into a new array of `Ctor`. */
export function concatTyped<T extends TypedArray>(parts: readonly T[], Ctor: new (n: number) => T): T {
  const out = new Ctor(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, o);
    o += p.length;
  }
  return out;
}

/**
 * Concatenates field `get` of every row group in `parts`; undefined when the first part lacks it
 * (optional fields such as attack targets).
 */
export function concatField<R, T extends TypedArray>(parts: readonly R[], get: (r: R) => T | undefined, Ctor: new (n: number) => T): T | undefined {
  if (parts.length === 0 || get(parts[0]) === undefined) return undefined;
  return concatTyped(parts.map((r) => get(r)!), Ctor);
}
