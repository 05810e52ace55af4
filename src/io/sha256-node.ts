import { createHash } from 'node:crypto';

/**
 * Node-only, synchronous hex sha256 (node:crypto), kept for Node callers of the earlier API. The
 * core checks bundles with the asynchronous WebCrypto `sha256Hex`, which browsers have too.
 */
export function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}
