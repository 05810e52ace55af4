import { ArgumentError, ManifestError } from '../../errors.js';
import { joinRel, normalizeRel, type BundleStore } from './types.js';

/**
 * A bundle held in memory (relative name → bytes). What a bundle is serialised into before it is
 * written anywhere, and what {@link subStore} views share. `writeAll` replaces the contents.
 */
export class MemoryStore implements BundleDraft {
  readonly files = new Map<string, Uint8Array>();
  constructor(
    files?: ReadonlyMap<string, Uint8Array> | Record<string, Uint8Array>,
    readonly location = 'memory://',
  ) {
    if (files) {
      const entries = files instanceof Map ? files.entries() : Object.entries(files);
      for (const [k, v] of entries) this.files.set(normalizeRel(k), v);
    }
  }
  describe(rel: string): string {
    return `${this.location.replace(/\/?$/, '/')}${rel}`;
  }
  async read(rel: string): Promise<Uint8Array> {
    const b = this.files.get(normalizeRel(rel));
    if (!b) throw new ManifestError(`${this.describe(rel)}: no such file in the bundle`);
    return b;
  }
  async writeAll(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    this.files.clear();
    for (const [k, v] of files) this.files.set(normalizeRel(k), v);
  }
  /** Relative names of every file, sorted. */
  list(): string[] {
    return [...this.files.keys()].sort();
  }
  /** Adds or replaces one file. */
  put(rel: string, bytes: Uint8Array): void {
    this.files.set(normalizeRel(rel), bytes);
  }
  /** Removes every file. */
  clear(): void {
    this.files.clear();
  }
}

/**
 * A bundle being written: an in-memory store (or a sub-folder of one) that takes one file at a
 * time. Detectors serialise into a draft; the draft then goes to its destination in one `writeAll`.
 */
export interface BundleDraft extends BundleStore {
  put(rel: string, bytes: Uint8Array): void;
  /** Relative names of every file in the draft (under its folder), sorted. */
  list(): string[];
  /** Removes every file of the draft (under its folder). */
  clear(): void;
}

/** Whether `x` is a {@link BundleDraft}: a {@link MemoryStore} or a sub-folder view of one. */
export function isBundleDraft(x: unknown): x is BundleDraft {
  if (x instanceof MemoryStore) return true;
  let p: unknown = x;
  while (p instanceof SubStore) p = p.parent;
  return p instanceof MemoryStore && x !== p;
}

/**
 * A view of the files under `prefix` of a {@link MemoryStore} (a bundle's sub-folder, e.g. `victim/`).
 * Its `writeAll` replaces only the files under `prefix`.
 */
export class SubStore implements BundleDraft {
  readonly prefix: string;
  constructor(
    readonly parent: BundleStore,
    prefix: string,
  ) {
    this.prefix = normalizeRel(prefix);
  }
  get location(): string {
    return this.parent.describe(this.prefix);
  }
  describe(rel: string): string {
    return this.parent.describe(joinRel(this.prefix, rel));
  }
  read(rel: string): Promise<Uint8Array> {
    return this.parent.read(joinRel(this.prefix, rel));
  }
  async writeAll(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    this.clear();
    for (const [k, v] of files) this.put(k, v);
  }
  put(rel: string, bytes: Uint8Array): void {
    rootOf(this).files.set(joinRel(...prefixesOf(this), rel), bytes);
  }
  list(): string[] {
    const full = `${joinRel(...prefixesOf(this))}/`;
    return rootOf(this).list().filter((k) => k.startsWith(full)).map((k) => k.slice(full.length));
  }
  clear(): void {
    const root = rootOf(this);
    const full = `${joinRel(...prefixesOf(this))}/`;
    for (const k of [...root.files.keys()]) if (k.startsWith(full)) root.files.delete(k);
  }
}

function rootOf(s: SubStore): MemoryStore {
  let p: BundleStore = s;
  while (p instanceof SubStore) p = p.parent;
  if (!(p instanceof MemoryStore)) throw new ArgumentError(`${s.location}: a sub-folder view can only be written inside an in-memory bundle`);
  return p;
}
function prefixesOf(s: SubStore): string[] {
  const out: string[] = [];
  let p: BundleStore = s;
  while (p instanceof SubStore) {
    out.unshift(p.prefix);
    p = p.parent;
  }
  return out;
}

/** The files under `prefix` of `store`, as a store of their own (reads go to `store`). */
export function subStore(store: BundleStore, prefix: string): SubStore {
  return new SubStore(store, prefix);
}

/**
 * Wraps a store so each file is read at most once (a bundle's nested loaders read shared files,
 * e.g. the victim copy, more than once; over HTTP that would mean as many downloads).
 */
export class CachedStore implements BundleStore {
  private readonly cache = new Map<string, Promise<Uint8Array>>();
  constructor(readonly inner: BundleStore) {}
  get location(): string {
    return this.inner.location;
  }
  describe(rel: string): string {
    return this.inner.describe(rel);
  }
  read(rel: string): Promise<Uint8Array> {
    const k = normalizeRel(rel);
    let p = this.cache.get(k);
    if (!p) {
      p = this.inner.read(k);
      this.cache.set(k, p);
      p.catch(() => this.cache.delete(k));
    }
    return p;
  }
  writeAll(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    this.cache.clear();
    return this.inner.writeAll(files);
  }
}
