/**
 * Worker-pool task of `generateAttackSet`: attacks one batch inside a worker thread. Not part of
 * the public API (the payload and result are plain typed arrays, as `WorkerPool` requires).
 */
import * as tf from '@tensorflow/tfjs';
import { Classifier } from '../models/classifier.js';
import { loadModelOnly } from '../models/io.js';
import { makeAttack } from './registry.js';

/** One batch to attack. */
export interface AttackBatchPayload {
  modelDir: string;
  attack: string;
  params: Record<string, unknown>;
  x: Float32Array;
  shape: [number, number, number, number];
  y: Int32Array;
  seed: number;
}

/** The batch's `AttackResult` with the adversarial tensor as a Float32Array. */
export interface AttackBatchResult {
  adversarial: Float32Array;
  success: Uint8Array;
  l2: Float32Array;
  linf: Float32Array;
  l0: Int32Array;
  predicted: Int32Array;
  labels: Int32Array;
  targets?: Int32Array;
  iterations?: Int32Array;
}

// one loaded victim per worker and model folder
const models = new Map<string, Promise<Classifier>>();

/** Loads (once per worker) the victim and runs the attack on the batch. */
export async function attackBatchTask(p: AttackBatchPayload): Promise<AttackBatchResult> {
  let m = models.get(p.modelDir);
  if (!m) {
    m = loadModelOnly(p.modelDir).then((model) => new Classifier(model));
    models.set(p.modelDir, m);
  }
  const model = await m;
  const x = tf.tensor4d(p.x, p.shape);
  try {
    const r = await makeAttack(p.attack, p.params).run(model, x, p.y, { seed: p.seed });
    const adversarial = Float32Array.from(await r.adversarial.data());
    r.adversarial.dispose();
    return { ...r, adversarial };
  } finally {
    x.dispose();
  }
}
