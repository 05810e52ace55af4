import * as tf from '@tensorflow/tfjs';
import { assert } from '../../errors.js';
import type { LoadContext } from '../persistence.js';
import type { BundleLocation } from '../../io/store/router.js';
import { registerDetector } from '../persistence.js';
import type { Classifier } from '../../models/classifier.js';
import { meanAndCovariance, symmetricEigen } from '../latent/hdda.js';
import { FeatureDetector, bundleArray, type FeatureDetectorParams } from './feature-detector.js';

/** Hyperparameters of {@link MahalanobisDetector}. */
export interface MahalanobisParams extends FeatureDetectorParams {
  /** Relative eigenvalue floor of the tied covariance: λ ≥ eigenFloor · tr(Σ)/p (default 1e-6). */
  eigenFloor: number;
}

interface MahalanobisModel {
  p: number;
  /** Class means [K, p] row-major (float32). */
  means: Float32Array;
  /** Whitening W = Λ^{-1/2} Vᵀ, [p, p] row-major (float32): ‖W r‖² = rᵀ Σ⁻¹ r. */
  whiten: Float32Array;
}

/**
 * Baseline: class-conditional Gaussians with a tied covariance on the **un-fine-tuned** victim
 * features at one layer (Lee et al., "A simple unified framework for detecting out-of-distribution
 * samples and adversarial attacks", NeurIPS 2018). Score = squared Mahalanobis distance
 * (x − μ_ŷ)ᵀ Σ⁻¹ (x − μ_ŷ) to the mean of the victim's predicted class ŷ. Σ is the pooled
 * within-class ML covariance; eigenvalues below `eigenFloor · tr(Σ)/p` are raised to it (dead ReLU
 * units make Σ singular), i.e. Σ⁻¹ is a floored pseudo-inverse.
 */
export class MahalanobisDetector extends FeatureDetector<MahalanobisParams> {
  static readonly detectorName = 'MahalanobisDetector';
  readonly kind = MahalanobisDetector.detectorName;
  private model_?: MahalanobisModel;

  constructor(victim: Classifier, params: Partial<MahalanobisParams> = {}) {
    const full: MahalanobisParams = { layer: FeatureDetector.defaultLayer(victim), sp: 1, batchSize: 1000, eigenFloor: 1e-6, ...params };
    assert(full.eigenFloor >= 0 && full.eigenFloor < 1, () => `MahalanobisDetector: 'eigenFloor' must be in [0, 1), got ${full.eigenFloor}`);
    super(victim, full);
  }

  get label(): string {
    return `mahalanobis:${this.params.layer}`;
  }

  protected fitFeatures(phi: Float32Array, p: number, labels: Int32Array): void {
    const k = this.numClasses;
    const n = labels.length;
    const means = new Float64Array(k * p);
    const counts = new Float64Array(k);
    for (let s = 0; s < n; s++) {
      counts[labels[s]]++;
      for (let j = 0; j < p; j++) means[labels[s] * p + j] += phi[s * p + j];
    }
    for (let c = 0; c < k; c++) {
      assert(counts[c] >= 1, () => `MahalanobisDetector.fit: class ${c} has no training samples`);
      for (let j = 0; j < p; j++) means[c * p + j] /= counts[c];
    }
    const resid = new Float64Array(n * p);
    for (let s = 0; s < n; s++) for (let j = 0; j < p; j++) resid[s * p + j] = phi[s * p + j] - means[labels[s] * p + j];
    const { cov } = meanAndCovariance(resid, p, Int32Array.from({ length: n }, (_, i) => i));
    const { values, vectors } = symmetricEigen(cov, p);
    let trace = 0;
    for (let j = 0; j < p; j++) trace += values[j];
    const floor = Math.max(this.params.eigenFloor * (trace / p), 1e-12);
    const whiten = new Float32Array(p * p);
    for (let e = 0; e < p; e++) {
      const sc = 1 / Math.sqrt(Math.max(values[e], floor));
      for (let j = 0; j < p; j++) whiten[e * p + j] = vectors[e * p + j] * sc;
    }
    this.model_ = { p, means: Float32Array.from(means), whiten };
  }

  protected scoreFeatures(phi: Float32Array, p: number, classOf: ArrayLike<number>): Float32Array {
    const m = this.model_!;
    assert(p === m.p, () => `MahalanobisDetector: feature dimension ${p}, fitted on ${m.p}`);
    const out = new Float32Array(classOf.length);
    const r = new Float64Array(p);
    for (let s = 0; s < classOf.length; s++) {
      const c = classOf[s];
      for (let j = 0; j < p; j++) r[j] = phi[s * p + j] - m.means[c * p + j];
      let d2 = 0;
      for (let e = 0; e < p; e++) {
        let z = 0;
        const row = e * p;
        for (let j = 0; j < p; j++) z += m.whiten[row + j] * r[j];
        d2 += z * z;
      }
      out[s] = d2;
    }
    return out;
  }

  protected exportModel(): { tensors: tf.NamedTensorMap; attributes: Record<string, unknown> } {
    const m = this.model_!;
    return {
      tensors: {
        'mahalanobis/means': tf.tensor2d(m.means, [this.numClasses, m.p]),
        'mahalanobis/whiten': tf.tensor2d(m.whiten, [m.p, m.p]),
      },
      attributes: { featureDim: m.p },
    };
  }

  protected importModel(tensors: tf.NamedTensorMap, attributes: Record<string, unknown>, file: string): void {
    this.model_ = {
      p: attributes.featureDim as number,
      means: bundleArray(tensors, 'mahalanobis/means', file),
      whiten: bundleArray(tensors, 'mahalanobis/whiten', file),
    };
  }

  /** Loads a bundle written by `save` (victim from `ctx.victim`, else the bundle's copy). */
  static async load(dir: BundleLocation, ctx: LoadContext = {}): Promise<MahalanobisDetector> {
    return FeatureDetector.loadWith(dir, MahalanobisDetector.detectorName, ctx, (v, p) => new MahalanobisDetector(v, p as Partial<MahalanobisParams>));
  }
}

registerDetector(MahalanobisDetector.detectorName, (dir, ctx) => MahalanobisDetector.load(dir, ctx));
