/** Messages between {@link WorkerPool} and its workers (internal). */
export interface TaskMessage {
  id: number;
  moduleUrl: string;
  exportName: string;
  payload: unknown;
}

export type ReplyMessage =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; message: string; stack?: string } };

/**
 * The distinct, transferable `ArrayBuffer`s under `value` (typed arrays, DataViews and bare
 * buffers, searched through plain objects, arrays, Maps and Sets). SharedArrayBuffers are
 * skipped: they are shared, not moved.
 */
export function collectTransferables(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof ArrayBuffer) {
      out.add(v);
    } else if (ArrayBuffer.isView(v)) {
      if (v.buffer instanceof ArrayBuffer) out.add(v.buffer);
    } else if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (v instanceof Map) {
      v.forEach((val, key) => {
        visit(key);
        visit(val);
      });
    } else if (v instanceof Set) {
      v.forEach(visit);
    } else {
      for (const val of Object.values(v)) visit(val);
    }
  };
  visit(value);
  return [...out];
}
