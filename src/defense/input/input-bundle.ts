/** The input defender's bundle: `manifest.json` + `weights.bin` (per class its dictionary `input/dict/k` and clean scores `input/trainScores/k`). */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { ManifestError } from '../../errors.js';
import { readBundle, writeBundle, writeDirAtomic } from '../persistence.js';
import { gramMatrix } from './omp.js';
import type { InputDefenderParams } from './params.js';
import { patchGrid } from './patches.js';
import type { InputFitInfo, InputState } from './state.js';

/** Writes the bundle of a fitted input defender into `dir` (atomically). */
export async function saveInputBundle(dir: string, name: string, params: Readonly<InputDefenderParams>, st: InputState): Promise<void> {
  const named: tf.NamedTensorMap = {};
  try {
    for (let k = 0; k < st.numClasses; k++) {
      named[`input/dict/${k}`] = tf.tensor2d(st.dicts[k], [params.nAtoms, st.grid.dim]);
      named[`input/trainScores/${k}`] = tf.tensor1d(st.trainScores[k]);
    }
    await writeDirAtomic(dir, (tmp) =>
      writeBundle(
        tmp,
        {
          name,
          params: { ...params },
          attributes: { imageShape: [st.h, st.w, st.c], patchSize: st.grid.p, numClasses: st.numClasses, ...(st.info ? { fitInfo: st.info } : {}) },
        },
        named,
      ),
    );
  } finally {
    Object.values(named).forEach((t) => t.dispose());
  }
}

/**
 * Reads a bundle written by {@link saveInputBundle}. `make(params)` builds the (unfitted) defender
 * from the stored hyperparameters and returns its validated params; the state is returned for it.
 */
export async function readInputBundle(
  dir: string,
  name: string,
  make: (p: Partial<InputDefenderParams>) => Readonly<InputDefenderParams>,
): Promise<InputState> {
  const { manifest, tensors } = await readBundle(dir, name);
  try {
    const mpath = path.join(dir, 'manifest.json');
    const params = make(manifest.params as Partial<InputDefenderParams>);
    const attr = manifest.attributes as { imageShape: [number, number, number]; patchSize: number; numClasses: number; fitInfo?: InputFitInfo };
    const [h, w, c] = attr.imageShape;
    const grid = patchGrid(h, w, c, attr.patchSize);
    const dicts: Float32Array[] = [];
    const trainScores: Float32Array[] = [];
    for (let k = 0; k < attr.numClasses; k++) {
      const d = tensors[`input/dict/${k}`];
      const s = tensors[`input/trainScores/${k}`];
      for (const [w, t] of [[`input/dict/${k}`, d], [`input/trainScores/${k}`, s]] as const) {
        if (t === undefined) throw new ManifestError(`${mpath}: missing weight '${w}'`);
      }
      if (d.size !== params.nAtoms * grid.dim) {
        throw new ManifestError(`${mpath}: weight 'input/dict/${k}' has ${d.size} values, expected nAtoms·patch dim = ${params.nAtoms}·${grid.dim}`);
      }
      dicts.push(Float32Array.from(d.dataSync()));
      trainScores.push(Float32Array.from(s.dataSync()));
    }
    return { h, w, c, grid, numClasses: attr.numClasses, dicts, grams: dicts.map((d) => gramMatrix(d, params.nAtoms, grid.dim)), trainScores, info: attr.fitInfo };
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}
