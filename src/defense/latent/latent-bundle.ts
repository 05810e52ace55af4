/**
 * The latent defender's bundle: `manifest.json` + `weights.bin` (replica weights `replica/i`, HDDA
 * parameters `hdda/k/{mean,basis,a}`, sorted training scores `scores/k`; for 'combined' scoring also
 * `components/{likelihood,ratio}/k`, for 'combined-disagreement' also `components/disagreement/k`)
 * and a copy of the victim in `victim/`.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ManifestError } from '../../errors.js';
import { Classifier } from '../../models/classifier.js';
import { readBundle, writeBundle, writeDirAtomic, type LoadContext } from '../persistence.js';
import { disposeMap, scoresFromTensors, scoresToTensors, thresholdsAt } from './common.js';
import type { HddaClass } from './hdda.js';
import type { LatentDefenderParams } from './params.js';
import { buildReplica, disposeReplica, loadModelCopy, saveModelCopy } from './replica.js';
import { scoringNeedsComponents, type ScoreComponents } from './scoring.js';
import type { LatentFitInfo, LatentState } from './state.js';

/** Writes the bundle of a fitted latent defender into `dir` (atomically). */
export async function saveLatentBundle(
  dir: string,
  name: string,
  victim: Classifier,
  params: Readonly<LatentDefenderParams>,
  st: LatentState,
): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    const files = await saveModelCopy(victim.model, path.join(tmp, 'victim'));
    const tensors: tf.NamedTensorMap = {};
    st.replica.model.getWeights().forEach((w, i) => {
      tensors[`replica/${i}`] = w;
    });
    st.hdda.forEach((h, k) => {
      tensors[`hdda/${k}/mean`] = tf.tensor1d(h.mean);
      tensors[`hdda/${k}/basis`] = tf.tensor2d(h.basis, [h.d, h.p]);
      tensors[`hdda/${k}/a`] = tf.tensor1d(h.a);
    });
    const scoreTensors = {
      ...scoresToTensors(st.scores),
      ...(st.components ? { ...scoresToTensors(st.components.likelihood, 'components/likelihood'), ...scoresToTensors(st.components.ratio, 'components/ratio') } : {}),
      ...(st.components?.disagreement ? scoresToTensors(st.components.disagreement, 'components/disagreement') : {}),
    };
    try {
      await writeBundle(
        tmp,
        {
          name,
          params: { ...params },
          attributes: {
            numClasses: victim.numClasses,
            featureDim: st.replica.featureDim,
            hdda: st.hdda.map((h) => ({ d: h.d, b: h.b, n: h.n })),
            thresholds: { sp: params.sp, values: Array.from(thresholdsAt(st.scores, params.sp)) },
            fit: st.info,
          },
          children: { victim: 'victim/' },
        },
        { ...tensors, ...scoreTensors },
        files.map((f) => `victim/${f}`),
      );
    } finally {
      for (const [n, t] of Object.entries(tensors)) if (!n.startsWith('replica/')) t.dispose();
      disposeMap(scoreTensors);
    }
  });
}

/**
 * Reads a bundle written by {@link saveLatentBundle}. The victim comes from `ctx.victim` (a
 * `Classifier`) if given, else from the bundle's own copy (`ownsVictim: true`; freed again here if the
 * bundle turns out to be broken). Throws `ManifestError` naming the file or field.
 */
export async function readLatentBundle(
  dir: string,
  name: string,
  ctx: LoadContext,
  validate: (p: Partial<LatentDefenderParams>, victim: Classifier) => Readonly<LatentDefenderParams>,
): Promise<{ victim: Classifier; ownsVictim: boolean; params: Readonly<LatentDefenderParams>; state: LatentState }> {
  const { manifest, tensors } = await readBundle(dir, name);
  const ownsVictim = !(ctx.victim instanceof Classifier);
  let victim: Classifier | undefined;
  try {
    victim = ctx.victim instanceof Classifier ? ctx.victim : new Classifier(await loadModelCopy(path.join(dir, 'victim')));
    const mpath = path.join(dir, 'manifest.json');
    const attrs = manifest.attributes as { numClasses: number; hdda: { d: number; b: number; n: number }[]; fit: LatentFitInfo };
    if (attrs.numClasses !== victim.numClasses) {
      throw new ManifestError(`${mpath}: bundle has ${attrs.numClasses} classes, the victim has ${victim.numClasses}`);
    }
    const params = validate(manifest.params as Partial<LatentDefenderParams>, victim);
    const hdda: HddaClass[] = attrs.hdda.map((h, k) => {
      const get = (w: string) => {
        const t = tensors[`hdda/${k}/${w}`];
        if (!t) throw new ManifestError(`${mpath}: missing weight 'hdda/${k}/${w}'`);
        return Float32Array.from(t.dataSync() as Float32Array);
      };
      const mean = get('mean');
      return { p: mean.length, d: h.d, n: h.n, b: h.b, mean, basis: get('basis'), a: get('a') };
    });
    const scores = scoresFromTensors(tensors, attrs.numClasses, 'scores', mpath);
    const components: ScoreComponents | undefined = scoringNeedsComponents(params.scoring)
      ? {
          likelihood: scoresFromTensors(tensors, attrs.numClasses, 'components/likelihood', mpath),
          ratio: scoresFromTensors(tensors, attrs.numClasses, 'components/ratio', mpath),
          ...(params.scoring === 'combined-disagreement' ? { disagreement: scoresFromTensors(tensors, attrs.numClasses, 'components/disagreement', mpath) } : {}),
        }
      : undefined;
    const replica = await buildReplica(victim.model, params.checkpointLayer);
    try {
      const ws = replica.model.getWeights().map((_, i) => {
        const t = tensors[`replica/${i}`];
        if (!t) throw new ManifestError(`${mpath}: missing weight 'replica/${i}'`);
        return t;
      });
      replica.model.setWeights(ws);
    } catch (e) {
      disposeReplica(replica);
      throw e;
    }
    return { victim, ownsVictim, params, state: { replica, hdda, scores, components, info: attrs.fit } };
  } catch (e) {
    if (ownsVictim) victim?.model.dispose();
    throw e;
  } finally {
    disposeMap(tensors);
  }
}
