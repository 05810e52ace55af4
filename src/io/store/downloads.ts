import { ArgumentError } from '../../errors.js';
import { zipBundle } from './zip.js';
import type { BundleStore } from './types.js';

/**
 * Saves a bundle as a browser download, `downloads://NAME` → `NAME.pcl.zip` (tfjs's `downloads://`
 * saves a model as separate files; a bundle has sub-folders, so it is one zip). Save-only: load the
 * file back with `bundleFromZip(bytes)` (e.g. from a file input or a drop).
 */
export class DownloadsStore implements BundleStore {
  readonly location: string;
  readonly fileName: string;
  constructor(readonly name: string) {
    if (!name) throw new ArgumentError(`DownloadsStore: expected a file name (downloads://NAME), got ''`);
    this.location = `downloads://${name}`;
    this.fileName = name.endsWith('.zip') ? name : `${name}.pcl.zip`;
  }
  describe(rel: string): string {
    return `${this.fileName}/${rel}`;
  }
  async read(rel: string): Promise<Uint8Array> {
    throw new ArgumentError(`${this.describe(rel)}: downloads:// is save-only; load the downloaded zip with bundleFromZip(bytes)`);
  }
  async writeAll(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const doc = (globalThis as { document?: Document }).document;
    if (!doc || typeof URL.createObjectURL !== 'function') {
      throw new ArgumentError(`${this.location}: downloads:// needs a browser page (document); in Node save to a folder`);
    }
    const zip = zipBundle(files);
    const url = URL.createObjectURL(new Blob([zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
    try {
      const a = doc.createElement('a');
      a.download = this.fileName;
      a.href = url;
      a.dispatchEvent(new MouseEvent('click'));
    } finally {
      // revoke after the click has been handled
      setTimeout(() => URL.revokeObjectURL(url), 0);
    }
  }
}
