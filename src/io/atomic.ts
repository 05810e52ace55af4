/**
 * Atomic file-system writes (Node only): a half-written output never replaces a good one. Used by
 * detector bundles, model copies, attack sets and the pipeline's reports.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Writes a folder atomically: `fill(tmpDir)` writes into a temporary sibling folder, which then
 * replaces `dir` in one rename. A failure leaves the previous `dir` (if any) untouched.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const abs = path.resolve(dir);
  await fs.mkdir(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = `${abs}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
  let hadOld = false;
  try {
    await fs.rename(abs, old);
    hadOld = true;
  } catch {
    /* no previous folder */
  }
  await fs.rename(tmp, abs);
  if (hadOld) await fs.rm(old, { recursive: true, force: true });
}

/** Writes `data` to `file` via a temporary name and a rename (no half-written file on failure). */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}
