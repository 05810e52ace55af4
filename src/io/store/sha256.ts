import { ManifestError } from '../../errors.js';

/**
 * Hex sha256 of `bytes` with WebCrypto (`globalThis.crypto.subtle`), which browsers (in a secure
 * context: https or localhost) and Node ≥ 20 both provide, so bundle checks run the same everywhere.
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new ManifestError(
      'sha256: WebCrypto (crypto.subtle) is not available; browsers provide it only to secure contexts (https:// or http://localhost)',
    );
  }
  // digest wants a BufferSource backed by an ArrayBuffer (not a SharedArrayBuffer view)
  const view = bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes);
  const d = new Uint8Array(await subtle.digest('SHA-256', view as Uint8Array<ArrayBuffer>));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}
