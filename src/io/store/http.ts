import { ArgumentError, ManifestError } from '../../errors.js';
import { normalizeRel, type BundleStore } from './types.js';

/** Options of {@link HttpStore} (as `tf.io.http`'s `LoadOptions`). */
export interface HttpStoreOptions {
  /** Passed to every `fetch` (headers, credentials, …). */
  requestInit?: RequestInit;
  /** The `fetch` to use (default `globalThis.fetch`; Node ≥ 18 and every browser have one). */
  fetchFunc?: typeof fetch;
}

/**
 * A read-only bundle on a web server: `https://host/dir/manifest.json` (or the folder URL
 * `https://host/dir/`). Each file is fetched relative to the folder. Works wherever `fetch` exists
 * (browsers, Node ≥ 18). Saving over HTTP is not supported (`writeAll` throws).
 */
export class HttpStore implements BundleStore {
  readonly location: string;
  private readonly base: string;
  constructor(
    url: string,
    private readonly opts: HttpStoreOptions = {},
  ) {
    if (!/^https?:\/\//i.test(url)) throw new ArgumentError(`HttpStore: expected an http(s):// URL, got '${url}'`);
    // the folder URL: drop a trailing 'manifest.json' and make sure it ends in '/'
    this.base = url.replace(/manifest\.json$/, '').replace(/\/?$/, '/');
    this.location = this.base;
  }
  describe(rel: string): string {
    return new URL(normalizeRel(rel), this.base).href;
  }
  async read(rel: string): Promise<Uint8Array> {
    const url = this.describe(rel);
    const f = this.opts.fetchFunc ?? globalThis.fetch;
    if (typeof f !== 'function') throw new ArgumentError(`${url}: no fetch() in this environment; pass HttpStoreOptions.fetchFunc`);
    let res: Response;
    try {
      res = await f(url, this.opts.requestInit);
    } catch (e) {
      throw new ManifestError(`${url}: request failed (${(e as Error).message})`);
    }
    if (!res.ok) throw new ManifestError(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  async writeAll(_files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    throw new ArgumentError(`${this.location}: bundles cannot be saved over HTTP; save to a folder (Node), indexeddb://NAME or downloads://NAME (browser)`);
  }
}
