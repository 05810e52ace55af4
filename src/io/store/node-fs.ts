/**
 * Node-only: bundles in a folder on disk (plain paths and `file://` URLs). Imported by the Node
 * entry (`pcl-defense/node`), which registers {@link fileSystemRouter}; never by the core.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManifestError } from '../../errors.js';
import { writeDirAtomic } from '../atomic.js';
import { registerStoreRouter, type StoreRouter } from './router.js';
import { normalizeRel, type BundleStore } from './types.js';

/** A bundle in folder `dir` (each relative name a file under it). `writeAll` replaces the folder atomically. */
export class FileSystemStore implements BundleStore {
  readonly dir: string;
  constructor(dirOrFileUrl: string) {
    const d = dirOrFileUrl.startsWith('file://') ? fileURLToPath(dirOrFileUrl) : dirOrFileUrl;
    // 'DIR/manifest.json' names the bundle by its manifest, as a URL would
    this.dir = path.basename(d) === 'manifest.json' ? path.dirname(d) : d;
  }
  get location(): string {
    return this.dir;
  }
  describe(rel: string): string {
    return path.join(this.dir, normalizeRel(rel));
  }
  async read(rel: string): Promise<Uint8Array> {
    const f = this.describe(rel);
    try {
      return new Uint8Array(await fs.readFile(f));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ManifestError(code === 'ENOENT' ? `${f}: no such file` : `${f}: cannot read (${(e as Error).message})`);
    }
  }
  async writeAll(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    await writeDirAtomic(this.dir, async (tmp) => {
      for (const [rel, bytes] of files) {
        const f = path.join(tmp, normalizeRel(rel));
        await fs.mkdir(path.dirname(f), { recursive: true });
        await fs.writeFile(f, bytes);
      }
    });
  }
}

/** Routes plain paths and `file://` URLs to a {@link FileSystemStore}. */
export const fileSystemRouter: StoreRouter = (url) =>
  url.startsWith('file://') || !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? new FileSystemStore(url) : null;

let registered = false;
/** Registers {@link fileSystemRouter} (idempotent; the Node entry calls it on import). */
export function registerFileSystemStore(): void {
  if (registered) return;
  registered = true;
  registerStoreRouter(fileSystemRouter);
}
