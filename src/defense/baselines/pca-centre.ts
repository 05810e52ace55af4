import * as tf from '@tensorflow/tfjs';
import { assert } from '../../errors.js';
import type { Classifier } from '../../models/classifier.js';
import { registerDetector, type LoadContext } from '../persistence.js';
import type { BundleLocation } from '../../io/store/router.js';
import { meanAndCovariance, symmetricEigen } from '../latent/hdda.js';
import { FeatureDetector, bundleArray, type FeatureDetectorParams } from './feature-detector.js';

/** Hyperparameters of {@link PcaCentreDetector}. */
export interface PcaCentreParams extends FeatureDetectorParams {
  /** L2-normalise each feature vector before PCA (default true, as in PCL). */
  normalize: boolean;
  /** Number of principal components, or 'auto' = the fewest that keep `varianceKept` (default 'auto'). */
  components: number | 'auto';
  /** Fraction of the total variance kept when `components` is 'auto' (default 0.95). */
  varianceKept: number;
}

interface PcaModel {
  p: number;
  k: number;
  /** Global feature mean [p]. */
  mean: Float32Array;
  /** Principal axes as rows [k, p]. */
  components: Float32Array;
  /** Class centres in PCA space [K, k]. */
  centres: Float32Array;
}

/**
 * Baseline: the variant released with the PCL paper — PCA on the (L2-normalised) victim features
 * at one layer, and the Euclidean distance in PCA space to the centre (mean projection of the
 * clean training samples) of the victim's predicted class. Score = that distance.
 */
export class PcaCentreDetector extends FeatureDetector<PcaCentreParams> {
  static readonly detectorName = 'PcaCentreDetector';
  readonly kind = PcaCentreDetector.detectorName;
  private model_?: PcaModel;

  constructor(victim: Classifier, params: Partial<PcaCentreParams> = {}) {
    const full: PcaCentreParams = {
      layer: FeatureDetector.defaultLayer(victim),
      sp: 1,
      batchSize: 1000,
      normalize: true,
      components: 'auto',
      varianceKept: 0.95,
      ...params,
    };
    if (full.components !== 'auto') {
      const c = full.components;
      assert(Number.isInteger(c) && c >= 1, () => `PcaCentreDetector: 'components' must be 'auto' or an integer ≥ 1, got ${c}`);
    }
    assert(full.varianceKept > 0 && full.varianceKept <= 1, () => `PcaCentreDetector: 'varianceKept' must be in (0, 1], got ${full.varianceKept}`);
    super(victim, full);
  }

  get label(): string {
    return `pca:${this.params.layer}`;
  }

  /** The fitted number of principal components. */
  get numComponents(): number | undefined {
    return this.model_?.k;
  }

  private prepare(phi: Float32Array, p: number): Float32Array {
    if (!this.params.normalize) return phi;
    const out = new Float32Array(phi.length);
    const n = phi.length / p;
    for (let s = 0; s < n; s++) {
      let q = 0;
      for (let j = 0; j < p; j++) q += phi[s * p + j] ** 2;
      const inv = 1 / Math.sqrt(Math.max(q, 1e-12));
      for (let j = 0; j < p; j++) out[s * p + j] = phi[s * p + j] * inv;
    }
    return out;
  }

  private project(x: Float32Array, p: number, s: number, z: Float64Array): void {
    const m = this.model_!;
    for (let e = 0; e < m.k; e++) {
      let v = 0;
      for (let j = 0; j < p; j++) v += m.components[e * p + j] * (x[s * p + j] - m.mean[j]);
      z[e] = v;
    }
  }

  protected fitFeatures(phiRaw: Float32Array, p: number, labels: Int32Array): void {
    const phi = this.prepare(phiRaw, p);
    const n = labels.length;
    const { mean, cov } = meanAndCovariance(phi, p, Int32Array.from({ length: n }, (_, i) => i));
    const { values, vectors } = symmetricEigen(cov, p);
    let k: number;
    const comps = this.params.components;
    if (comps === 'auto') {
      const total = values.reduce((a, b) => a + Math.max(b, 0), 0);
      let acc = 0;
      k = p;
      for (let e = 0; e < p; e++) {
        acc += Math.max(values[e], 0);
        if (acc >= this.params.varianceKept * total) {
          k = e + 1;
          break;
        }
      }
    } else {
      assert(comps <= p, () => `PcaCentreDetector.fit: 'components' = ${comps} exceeds the feature dimension ${p}`);
      k = comps;
    }
    this.model_ = { p, k, mean: Float32Array.from(mean), components: Float32Array.from(vectors.subarray(0, k * p)), centres: new Float32Array(0) };
    const kk = this.numClasses;
    const centres = new Float64Array(kk * k);
    const counts = new Float64Array(kk);
    const z = new Float64Array(k);
    for (let s = 0; s < n; s++) {
      this.project(phi, p, s, z);
      counts[labels[s]]++;
      for (let e = 0; e < k; e++) centres[labels[s] * k + e] += z[e];
    }
    for (let c = 0; c < kk; c++) {
      assert(counts[c] >= 1, () => `PcaCentreDetector.fit: class ${c} has no training samples`);
      for (let e = 0; e < k; e++) centres[c * k + e] /= counts[c];
    }
    this.model_.centres = Float32Array.from(centres);
  }

  protected scoreFeatures(phiRaw: Float32Array, p: number, classOf: ArrayLike<number>): Float32Array {
    const m = this.model_!;
    assert(p === m.p, () => `PcaCentreDetector: feature dimension ${p}, fitted on ${m.p}`);
    const phi = this.prepare(phiRaw, p);
    const out = new Float32Array(classOf.length);
    const z = new Float64Array(m.k);
    for (let s = 0; s < classOf.length; s++) {
      this.project(phi, p, s, z);
      let d2 = 0;
      for (let e = 0; e < m.k; e++) d2 += (z[e] - m.centres[classOf[s] * m.k + e]) ** 2;
      out[s] = Math.sqrt(d2);
    }
    return out;
  }

  protected exportModel(): { tensors: tf.NamedTensorMap; attributes: Record<string, unknown> } {
    const m = this.model_!;
    return {
      tensors: {
        'pca/mean': tf.tensor1d(m.mean),
        'pca/components': tf.tensor2d(m.components, [m.k, m.p]),
        'pca/centres': tf.tensor2d(m.centres, [this.numClasses, m.k]),
      },
      attributes: { featureDim: m.p, components: m.k },
    };
  }

  protected importModel(tensors: tf.NamedTensorMap, attributes: Record<string, unknown>, file: string): void {
    this.model_ = {
      p: attributes.featureDim as number,
      k: attributes.components as number,
      mean: bundleArray(tensors, 'pca/mean', file),
      components: bundleArray(tensors, 'pca/components', file),
      centres: bundleArray(tensors, 'pca/centres', file),
    };
  }

  /** Loads a bundle written by `save` (victim from `ctx.victim`, else the bundle's copy). */
  static async load(dir: BundleLocation, ctx: LoadContext = {}): Promise<PcaCentreDetector> {
    return FeatureDetector.loadWith(dir, PcaCentreDetector.detectorName, ctx, (v, p) => new PcaCentreDetector(v, p as Partial<PcaCentreParams>));
  }
}

registerDetector(PcaCentreDetector.detectorName, (dir, ctx) => PcaCentreDetector.load(dir, ctx));
