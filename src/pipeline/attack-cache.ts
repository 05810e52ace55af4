import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { AttackResult } from '../attacks/index.js';
import { writeDirAtomic } from '../io/atomic.js';
import { readIdx, writeIdx } from '../io/idx.js';

/** What the evaluation uses of an attack run. */
export type AttackOutcome = Pick<AttackResult, 'adversarial' | 'success' | 'l2' | 'linf'>;
export type CachedAttackResult = AttackOutcome & { seconds: number };

/**
 * A cache entry for one attack run: `<cacheDir>/<key>/` with `x_adv.idx`, `success.idx`, `l2.idx`,
 * `linf.idx` and `key.json`; the key hashes everything the result depends on (the victim is implied by
 * the images it classified correctly, which are hashed too).
 */
export async function attackCache(
  cacheDir: string,
  k: { attack: string; params: object; seed: number; batchSize: number; yClean: Int32Array; xClean: tf.Tensor4D },
) {
  const h = createHash('sha256');
  h.update(JSON.stringify({ attack: k.attack, params: k.params, seed: k.seed, batchSize: k.batchSize }));
  h.update(new Uint8Array(k.yClean.buffer, k.yClean.byteOffset, k.yClean.byteLength));
  const xd = (await k.xClean.data()) as Float32Array;
  h.update(new Uint8Array(xd.buffer, xd.byteOffset, xd.byteLength));
  const dir = path.join(cacheDir, `${k.attack}-${h.digest('hex').slice(0, 16)}`);
  const shape = k.xClean.shape;
  return {
    async read(): Promise<CachedAttackResult | undefined> {
      try {
        const meta = JSON.parse(await fs.readFile(path.join(dir, 'key.json'), 'utf8')) as { seconds: number };
        const [x, success, l2, linf] = await Promise.all(['x_adv', 'success', 'l2', 'linf'].map((f) => readIdx(path.join(dir, `${f}.idx`))));
        return {
          adversarial: tf.tensor4d(x.data as Float32Array, shape),
          success: Uint8Array.from(success.data),
          l2: Float32Array.from(l2.data),
          linf: Float32Array.from(linf.data),
          seconds: meta.seconds,
        };
      } catch {
        return undefined;
      }
    },
    async write(r: AttackOutcome, seconds: number): Promise<void> {
      await writeDirAtomic(dir, async (tmp) => {
        await writeIdx(path.join(tmp, 'x_adv.idx'), (await r.adversarial.data()) as Float32Array, shape);
        await writeIdx(path.join(tmp, 'success.idx'), r.success, [r.success.length]);
        await writeIdx(path.join(tmp, 'l2.idx'), r.l2, [r.l2.length]);
        await writeIdx(path.join(tmp, 'linf.idx'), r.linf, [r.linf.length]);
        await fs.writeFile(path.join(tmp, 'key.json'), JSON.stringify({ attack: k.attack, params: k.params, seed: k.seed, batchSize: k.batchSize, seconds }));
      });
    },
  };
}
