import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError, assert } from '../errors.js';
import { Rng } from '../util/rng.js';
import { concatField } from '../util/typed.js';
import { BIM, type BimParams } from './bim.js';
import { CarliniWagnerL2, type CarliniWagnerL2Params } from './carlini-wagner-l2.js';
import { checkInt, labelsToArray } from './common.js';
import { DeepFool, type DeepFoolParams } from './deepfool.js';
import { FGSM, type FgsmParams } from './fgsm.js';
import { JSMA, type JsmaParams } from './jsma.js';
import { PgdL2, type PgdL2Params } from './pgd-l2.js';
import type { Attack, AttackModel, AttackResult, Labels } from './types.js';

/** Hyperparameters of each registered attack, by registry name. */
export interface AttackParamsByName {
  fgsm: FgsmParams;
  bim: BimParams;
  jsma: JsmaParams;
  deepfool: DeepFoolParams;
  'cw-l2': CarliniWagnerL2Params;
  'pgd-l2': PgdL2Params;
}
/** Registry name of an attack. */
export type AttackName = keyof AttackParamsByName;

/** The attack registry: registry name → factory taking (partial) hyperparameters. */
export const ATTACKS: { readonly [K in AttackName]: (params?: Partial<AttackParamsByName[K]>) => Attack<AttackParamsByName[K]> } =
  Object.freeze({
    fgsm: (p?: Partial<FgsmParams>) => new FGSM(p),
    bim: (p?: Partial<BimParams>) => new BIM(p),
    jsma: (p?: Partial<JsmaParams>) => new JSMA(p),
    deepfool: (p?: Partial<DeepFoolParams>) => new DeepFool(p),
    'cw-l2': (p?: Partial<CarliniWagnerL2Params>) => new CarliniWagnerL2(p),
    'pgd-l2': (p?: Partial<PgdL2Params>) => new PgdL2(p),
  });

/** Registry names of every attack. */
export const ATTACK_NAMES = Object.keys(ATTACKS) as AttackName[];

/**
 * Builds an attack from its registry name (`fgsm`, `bim`, `jsma`, `deepfool`, `cw-l2`, `pgd-l2`; `cw` and `pgd`
 * are accepted aliases, `pgd` turning on the random start; `pgd-linf` = `pgd`, `l2pgd` = `pgd-l2`) and hyperparameters. Unknown names or
 * parameters throw an ArgumentError naming the valid ones.
 */
export function makeAttack(name: string, params: Record<string, unknown> = {}): Attack {
  let key = name.toLowerCase();
  let p: Record<string, unknown> = { ...params };
  if (key === 'cw' || key === 'cwl2' || key === 'carlini-wagner-l2') key = 'cw-l2';
  if (key === 'l2pgd' || key === 'pgdl2') key = 'pgd-l2';
  if (key === 'pgd' || key === 'pgd-linf') {
    key = 'bim';
    p = { randomStart: true, ...p };
  }
  const factory = (ATTACKS as Record<string, (q: object) => Attack>)[key];
  if (!factory) throw new ArgumentError(`attack: unknown attack '${name}'; expected one of ${ATTACK_NAMES.join(', ')}`);
  const attack = factory({});
  const known = Object.keys(attack.params);
  for (const k of Object.keys(p)) {
    if (p[k] === undefined) delete p[k];
    else if (!known.includes(k)) throw new ArgumentError(`attack ${key}: unknown parameter '${k}'; expected one of ${known.join(', ')}`);
  }
  return factory(p);
}

/** Options of `runAttack`. */
export interface RunAttackOptions {
  /** Rows per attack call. Default 100. */
  batchSize?: number;
  /** Seed; batch b uses the b-th seed drawn from `Rng(seed)`. Default 0. */
  seed?: number;
  /** Called with (rows done, total rows) after every batch and within long batches. */
  onProgress?: (done: number, total: number) => void;
  /** Target class per row (targeted attacks). */
  targets?: ArrayLike<number>;
}

/**
 * Runs `attack` on all rows of `x` [N, h, w, c] with labels [N], `batchSize` rows per call, and
 * concatenates the results. Returns a new tensor owned by the caller; `x` is not disposed.
 */
export async function runAttack(attack: Attack, model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunAttackOptions = {}): Promise<AttackResult> {
  assert(x.rank === 4, () => `runAttack: expected x of rank 4 [n,h,w,c], got shape [${x.shape}]`, ShapeError);
  const y = await labelsToArray(labels);
  assert(y.length === x.shape[0], () => `runAttack: expected ${x.shape[0]} labels, got ${y.length}`, ShapeError);
  const batchSize = opts.batchSize ?? 100;
  checkInt('runAttack', 'batchSize', batchSize, 1);
  const total = y.length;
  const rng = new Rng(opts.seed ?? 0);
  const parts: AttackResult[] = [];
  try {
    for (let s = 0; s < total; s += batchSize) {
      const m = Math.min(batchSize, total - s);
      const xb = x.slice([s, 0, 0, 0], [m, -1, -1, -1]);
      try {
        parts.push(
          await attack.run(model, xb, y.subarray(s, s + m), {
            seed: rng.seed(),
            targets: opts.targets ? Array.from(opts.targets).slice(s, s + m) : undefined,
            onProgress: opts.onProgress ? (done, of) => opts.onProgress!(s + Math.round((done / of) * m), total) : undefined,
          }),
        );
      } finally {
        xb.dispose();
      }
      opts.onProgress?.(s + m, total);
    }
    return concatResults(parts, x.shape);
  } finally {
    for (const r of parts) r.adversarial.dispose();
  }
}

function concatResults(parts: AttackResult[], shape: number[]): AttackResult {
  const cat = <T extends Float32Array | Int32Array | Uint8Array>(get: (r: AttackResult) => T | undefined, Ctor: new (n: number) => T) =>
    concatField(parts, get, Ctor);

  const adversarial =
    parts.length === 0
      ? (tf.zeros([0, shape[1], shape[2], shape[3]]) as tf.Tensor4D)
      : parts.length === 1
        ? parts[0].adversarial.clone()
        : (tf.concat(parts.map((r) => r.adversarial)) as tf.Tensor4D);
  return {
    adversarial,
    success: cat((r) => r.success, Uint8Array)!,
    l2: cat((r) => r.l2, Float32Array)!,
    linf: cat((r) => r.linf, Float32Array)!,
    l0: cat((r) => r.l0, Int32Array)!,
    predicted: cat((r) => r.predicted, Int32Array)!,
    labels: cat((r) => r.labels, Int32Array)!,
    targets: cat((r) => r.targets, Int32Array),
    iterations: cat((r) => r.iterations, Int32Array),
  } as AttackResult;
}
