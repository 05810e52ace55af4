import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError, ShapeError, assert, assertFitted } from '../errors.js';
import {
  calibratedFusionScores,
  calibratedFusionThreshold,
  fitCalibratedFusion,
  heldoutEvidenceOf,
  FUSION_METHODS,
  type CalibratedFusionModel,
  type FusionMethod,
  type PValueCalibration,
} from './fusion/index.js';
import { Classifier } from '../models/classifier.js';
import { Rng } from '../util/rng.js';
import { info } from '../util/progress.js';
import { InputDefender, type InputDefenderParams } from './input/input-defender.js';
import { NoiseDefender } from './input/noise-defender.js';
import { MarginDefender } from './output/margin-defender.js';
// registers TwinDefender with the bundle loader: a saved detector may hold one (see `defaultDefenders`)
import './output/twin-defender.js';
import { LatentDefender, type LatentDefenderParams } from './latent/latent-defender.js';
import { loadModelCopy, saveModelCopy } from './latent/replica.js';
import { subStore } from '../io/store/memory.js';
import type { BundleLocation } from '../io/store/router.js';
import { listFiles, loadDetector, readBundle, saveBundle, writeBundle } from './persistence.js';
import { checkSp, labelsFrom } from './detection.js';
import type { DetectOptions, DetectionReport, DetectionSummary, Detector, FitOptions, Labels } from './types.js';

/** How the defenders' alarms are combined into one decision. */
export type FusionRule = 'or' | 'calibrated';

/** Hyperparameters of a {@link PCLDetector}. */
export interface PCLDetectorParams {
  /** Latent checkpoint layers (names in the victim). Default: the second-to-last layer. */
  checkpoints: string[];
  /** Run the input (dictionary / PSNR) defender too. Default true. */
  inputDefender: boolean;
  /**
   * Run the input noise defender too (`NoiseDefender`, label 'input:noise': the image's robust
   * pixel-noise estimate against its class's clean images). Default false (the paper's defenders only).
   */
  noiseDefender: boolean;
  /**
   * Run the output margin defender too (`MarginDefender`, label 'output:margin': the victim's logit
   * margin against its class's clean images; catches minimal attacks that stop on the boundary).
   * Default false (the paper's defenders only).
   */
  marginDefender: boolean;
  /** Security parameter in percent shared by every defender (default 1). */
  sp: number;
  /** Per-defender SP overrides, keyed by defender label ('latent:fc2', 'input'). */
  spOverrides: Record<string, number>;
  /**
   * 'calibrated' (default): per-defender p-values fused (Fisher) and re-thresholded on held-out clean
   * data so the *combined* false-alarm rate equals SP. 'or' (the paper's rule): adversarial iff any
   * defender exceeds its own per-class threshold at its SP; its false alarms add up over defenders
   * (several times SP on clean test images, see bench/results/sp-calibration.md).
   */
  fusion: FusionRule;
  /** p-value combination of the calibrated fusion: 'fisher' (default), 'omnibus' or 'sidak' (see `defense/fusion/`). */
  fusionMethod: FusionMethod;
  /** Fraction of the clean training data held out of fitting, to calibrate the fusion (default 0.1). */
  calibrationFraction: number;
  /** Options passed to every latent defender. */
  latent: Partial<Omit<LatentDefenderParams, 'checkpointLayer'>>;
  /** Options passed to the input defender. */
  input: Partial<InputDefenderParams>;
  /** Seed of the calibration split (defenders get their own seeds from `latent`/`input`). */
  seed: number;
}

/** How `PCLDetector` fits its calibrated fusion: tail p-values, then the held-out second stage (`recalibrateEvidence`). */
const FUSION_STAGES = Object.freeze({ tail: true, recalibrate: true });

const DEFAULTS: Readonly<Omit<PCLDetectorParams, 'checkpoints'>> = Object.freeze({
  inputDefender: true,
  noiseDefender: false,
  marginDefender: false,
  sp: 1,
  spOverrides: {},
  fusion: 'calibrated',
  fusionMethod: 'fisher',
  calibrationFraction: 0.1,
  latent: {},
  input: {},
  seed: 0,
});

function validateParams(p: PCLDetectorParams): PCLDetectorParams {
  assert(Array.isArray(p.checkpoints) && p.checkpoints.length > 0, () => `PCLDetector: 'checkpoints' must list at least one layer, got ${JSON.stringify(p.checkpoints)}`);
  assert(new Set(p.checkpoints).size === p.checkpoints.length, () => `PCLDetector: 'checkpoints' has duplicates: ${p.checkpoints.join(',')}`);
  assert(p.sp >= 0 && p.sp <= 100, () => `PCLDetector: 'sp' must be a percentage in [0, 100], got ${p.sp}`);
  for (const [k, v] of Object.entries(p.spOverrides)) {
    assert(v >= 0 && v <= 100, () => `PCLDetector: 'spOverrides.${k}' must be a percentage in [0, 100], got ${v}`);
  }
  assert(p.fusion === 'or' || p.fusion === 'calibrated', () => `PCLDetector: 'fusion' must be 'or' or 'calibrated', got '${p.fusion}'`);
  assert(FUSION_METHODS.includes(p.fusionMethod), () => `PCLDetector: 'fusionMethod' must be one of ${FUSION_METHODS.join(', ')}, got '${p.fusionMethod}'`);
  assert(p.calibrationFraction >= 0 && p.calibrationFraction < 0.5, () => `PCLDetector: 'calibrationFraction' must be in [0, 0.5), got ${p.calibrationFraction}`);
  return p;
}

/** Scores of every defender for a batch of inputs. */
export interface PCLScores {
  /** Victim's predicted label per sample, [n]. */
  yPred: Int32Array;
  /** Per defender (same order as `detector.defenders`), score [n]; higher = more adversarial. */
  scores: Float32Array[];
}

/** Options of {@link PCLDetector.detect}: the detector options plus the decision rule. */
export interface PCLDetectOptions extends DetectOptions {
  /** Decision rule (default: `params.fusion`). */
  fusion?: FusionRule;
}

/**
 * What {@link PCLDetector.detect} returns: the one `DetectionReport` shape (scores per defender, in
 * the order of `detector.defenders`), plus each defender's own alarm and the fused score.
 */
export interface PCLDetection extends DetectionReport<Float32Array[]>, PCLScores {
  /** Per defender, its own alarm at its SP, [n]. */
  alarms: Uint8Array[];
  /** The fused score of the calibrated fusion, when available, [n]. */
  fused?: Float64Array;
}

interface PCLState {
  /** Calibrated fusion fitted on the held-out clean split; undefined if calibrationFraction = 0. */
  fusion?: CalibratedFusionModel;
  /** Every defender's scores of the held-out clean samples (refits the fusion with another method). */
  heldout?: { scores: Float32Array[]; classes: Int32Array };
}

/**
 * Parallel Checkpointing Learners: latent defenders at one or more checkpoint layers plus an input
 * defender, all beside an untouched victim classifier. Fitted on clean data only.
 *
 * Decision rules: the paper's OR at one shared security parameter (each defender flags the SP % most
 * unusual of its own clean training samples), or a calibrated fusion whose *combined* false-alarm
 * rate equals SP (see `defense/fusion/`).
 *
 * @see Rouhani, Samragh, Javidi & Koushanfar, "Towards safe deep learning: unsupervised defense
 *   against generic adversarial attacks", 2018, §3–4.
 */
export class PCLDetector {
  static readonly detectorName = 'PCLDetector';
  readonly params: Readonly<PCLDetectorParams>;
  readonly defenders: Detector[];
  private state_?: PCLState;
  /** True when `load` built the victim from the bundle's copy (then `dispose` frees it too). */
  private ownsVictim_ = false;

  /**
   * Builds the default defenders for `victim` (not fitted). Pass `defenders` to use your own
   * (e.g. baselines) instead; their labels must be unique.
   */
  constructor(
    readonly victim: Classifier,
    params: Partial<PCLDetectorParams> = {},
    defenders?: Detector[],
  ) {
    const checkpoints = params.checkpoints ?? [new LatentDefender(victim, params.latent ?? {}).params.checkpointLayer];
    this.params = Object.freeze(validateParams({ ...DEFAULTS, ...params, checkpoints }));
    const layers = victim.layerNames();
    for (const c of this.params.checkpoints) {
      assert(layers.includes(c), () => `PCLDetector: checkpoint layer '${c}' is not in the victim (layers: ${layers.join(', ')})`);
    }
    this.defenders = defenders ?? PCLDetector.defaultDefenders(victim, this.params);
    const labels = this.defenders.map((d) => d.label);
    assert(new Set(labels).size === labels.length, () => `PCLDetector: defender labels must be unique, got ${labels.join(', ')}`);
  }

  /**
   * The defenders `params` asks for (not fitted): a latent defender per checkpoint, then the input, noise and
   * margin defenders where enabled. To add one of your own (e.g. a `TwinDefender`), pass
   * `[...PCLDetector.defaultDefenders(victim, params), yours]` as the constructor's `defenders`.
   */
  static defaultDefenders(victim: Classifier, params: Partial<PCLDetectorParams> = {}): Detector[] {
    const p = { ...DEFAULTS, ...params };
    const checkpoints = params.checkpoints ?? [new LatentDefender(victim, p.latent).params.checkpointLayer];
    const out: Detector[] = checkpoints.map((c) => new LatentDefender(victim, { ...p.latent, checkpointLayer: c }));
    if (p.inputDefender) out.push(new InputDefender(victim, p.input));
    if (p.noiseDefender) out.push(new NoiseDefender(victim, { sp: p.sp }));
    if (p.marginDefender) out.push(new MarginDefender(victim, { sp: p.sp }));
    return out;
  }

  get isFitted(): boolean {
    return this.state_ !== undefined && this.defenders.every((d) => d.isFitted);
  }
  get labels(): string[] {
    return this.defenders.map((d) => d.label);
  }
  /** The calibrated fusion model (undefined when fitted with calibrationFraction = 0). */
  get fusionModel(): CalibratedFusionModel | undefined {
    return this.state_?.fusion;
  }

  /** SP of defender `label`: its override, else the shared SP. */
  spFor(label: string, sp = this.params.sp): number {
    return this.params.spOverrides[label] ?? sp;
  }

  /**
   * Fits every defender on clean data, holding out `calibrationFraction` of it (stratified, seeded)
   * to calibrate the fusion. `x`: [n,h,w,c] in [0,1]; `y`: [n] true labels. Resolves to `this`.
   * With `keepFitted`, defenders that are already fitted (e.g. loaded from an earlier bundle fitted on
   * the same data with the same settings) are kept as they are; the fusion is calibrated afresh.
   */
  async fit(x: tf.Tensor4D, y: tf.Tensor1D, opts: FitOptions & { keepFitted?: boolean } = {}): Promise<this> {
    assert(x.rank === 4, () => `PCLDetector.fit: expected x of rank 4 [n,h,w,c], got shape [${x.shape}]`);
    assert(y.rank === 1 && y.shape[0] === x.shape[0], () => `PCLDetector.fit: expected y of shape [${x.shape[0]}], got [${y.shape}]`);
    const { fitIdx, calIdx } = splitHoldout(await y.data(), this.params.calibrationFraction, this.params.seed);
    const xFit = calIdx.length ? tf.gather(x, fitIdx) : x;
    const yFit = calIdx.length ? tf.gather(y, fitIdx) : y;
    try {
      for (const d of this.defenders) {
        if (opts.keepFitted && d.isFitted) {
          info(`keeping the fitted ${d.label}`);
          continue;
        }
        info(`fitting ${d.label} on ${fitIdx.length} clean samples`);
        await d.fit(xFit, yFit, opts);
      }
    } finally {
      if (xFit !== x) xFit.dispose();
      if (yFit !== y) yFit.dispose();
    }
    this.state_ = {};
    if (calIdx.length > 0) {
      const xCal = tf.gather(x, calIdx);
      try {
        const yAll = await y.data();
        await this.calibrate(xCal, Array.from(calIdx, (i) => yAll[i]));
      } finally {
        xCal.dispose();
      }
    }
    return this;
  }

  /**
   * (Re)calibrates the fusion on clean images `x` ([n,h,w,c], disjoint from the data the defenders
   * were fitted on): scores them with every defender, keeps those scores (saved with the bundle) and
   * fits the calibrated fusion with `params.fusionMethod`. With true labels `y`, only the images the
   * victim classifies correctly are used (what `fit` does): misclassified clean images score high and
   * would push the threshold up, so the fusion would flag far fewer correctly classified images than SP
   * (0.1 % instead of 1 % on CIFAR-10, where the victim gets 26 % of its training images wrong). `fit` calls it on its held-out split; call it
   * yourself on a detector fitted with `calibrationFraction: 0`, or to recalibrate on new clean data.
   */
  async calibrate(x: tf.Tensor4D, y?: ArrayLike<number>): Promise<this> {
    assert(this.state_ !== undefined, () => 'PCLDetector.calibrate: fit the detector first', ArgumentError);
    assert(x.rank === 4 && x.shape[0] > 0, () => `PCLDetector.calibrate: expected clean images of rank 4 [n,h,w,c] with n ≥ 1, got shape [${x.shape}]`);
    assert(y === undefined || y.length === x.shape[0], () => `PCLDetector.calibrate: expected ${x.shape[0]} labels, got ${y?.length}`, ShapeError);
    const s = await this.scoreAll(x);
    // with labels, only the images the victim classifies correctly count, as for the defenders' own
    // per-class thresholds and for the false-positive rate of the paper's protocol
    const keep = y === undefined ? undefined : Array.from(s.yPred.keys()).filter((i) => s.yPred[i] === y[i]);
    assert(keep === undefined || keep.length > 0, () => 'PCLDetector.calibrate: the victim classifies none of the calibration images correctly', ArgumentError);
    const heldout = keep
      ? { scores: s.scores.map((sc) => Float32Array.from(keep, (i) => sc[i])), classes: Int32Array.from(keep, (i) => s.yPred[i]) }
      : { scores: s.scores, classes: s.yPred };
    info(`calibrated the fusion on ${heldout.classes.length} held-out clean samples${keep ? ` (the ${keep.length} of ${x.shape[0]} the victim classifies correctly)` : ''}`);
    this.state_ = { heldout, fusion: fitCalibratedFusion(this.calibrations(), heldout, this.params.fusionMethod, undefined, FUSION_STAGES) };
    return this;
  }

  /**
   * The calibrated fusion with another p-value combination `method`, refitted from the stored
   * held-out scores (no image is re-scored). Undefined when the detector has no held-out scores
   * (fitted with `calibrationFraction: 0` and never calibrated, or a bundle saved before they were kept).
   */
  fusionModelFor(method: FusionMethod): CalibratedFusionModel | undefined {
    const st = this.state_;
    assertFitted(st, 'PCLDetector');
    assert(FUSION_METHODS.includes(method), () => `PCLDetector.fusionModelFor: 'method' must be one of ${FUSION_METHODS.join(', ')}, got '${method}'`);
    if (st.fusion && st.fusion.method === method && !st.fusion.weights) return st.fusion;
    // bundles of format 1 fused plain empirical p-values; keep their p-values when refitting
    return st.heldout
      ? fitCalibratedFusion(this.calibrations(), st.heldout, method, undefined, st.fusion ? { tail: st.fusion.tail === true, recalibrate: st.fusion.heldoutEvidence !== undefined } : FUSION_STAGES)
      : undefined;
  }

  /**
   * Refits the calibrated fusion from the stored held-out scores with `method` (default
   * `params.fusionMethod`) and this version's tail p-values, without re-scoring any image; e.g. to
   * upgrade a format-1 bundle's fusion (plain empirical p-values) in place. Resolves `this`.
   */
  refitFusion(method: FusionMethod = this.params.fusionMethod): this {
    const st = this.state_;
    assertFitted(st, 'PCLDetector');
    assert(FUSION_METHODS.includes(method), () => `PCLDetector.refitFusion: 'method' must be one of ${FUSION_METHODS.join(', ')}, got '${method}'`);
    assert(st.heldout !== undefined, () => 'PCLDetector.refitFusion: the detector keeps no held-out scores; call calibrate(cleanImages, labels)', ArgumentError);
    st.fusion = fitCalibratedFusion(this.calibrations(), st.heldout, method, undefined, FUSION_STAGES);
    return this;
  }

  /** Per-defender clean training scores per class (the basis of thresholds and p-values). */
  calibrations(): PValueCalibration[] {
    return this.defenders.map((d) => ({
      label: d.label,
      sortedScores: Array.from({ length: d.numClasses }, (_, k) => d.trainScores(k)),
    }));
  }

  /**
   * Runs the victim (unless `yPred` is given) and every defender on `x` ([n,h,w,c]); inputs are not
   * disposed. `onProgress(done, total)` counts defenders.
   */
  async scoreAll(x: tf.Tensor4D, yPred?: Labels, onProgress?: (done: number, total: number) => void): Promise<PCLScores> {
    assert(x.rank === 4, () => `PCLDetector.score: expected x of rank 4 [n,h,w,c], got shape [${x.shape}]`, ShapeError);
    const given = labelsFrom(yPred, x.shape[0], 'PCLDetector.score');
    const yT = given ? tf.tensor1d(given, 'int32') : this.victim.predict(x);
    try {
      const yPred = new Int32Array(await yT.data());
      const scores: Float32Array[] = [];
      for (const d of this.defenders) {
        scores.push(await d.score(x, yT));
        onProgress?.(scores.length, this.defenders.length);
      }
      return { yPred, scores };
    } finally {
      yT.dispose();
    }
  }

  /**
   * Flags adversarial inputs at security parameter `sp` (default: params.sp) with the given fusion
   * rule (default: params.fusion). Always returns every defender's raw score too.
   */
  async detect(x: tf.Tensor4D, opts: PCLDetectOptions = {}): Promise<PCLDetection> {
    assertFitted(this.state_, 'PCLDetector');
    const sp = checkSp('PCLDetector.detect', opts.sp ?? this.params.sp);
    const rule = opts.fusion ?? this.params.fusion;
    assert(rule === 'or' || rule === 'calibrated', () => `PCLDetector.detect: 'fusion' must be 'or' or 'calibrated', got '${rule}'`);
    const n = x.shape?.[0] ?? 0;
    const s = await this.scoreAll(x, opts.yPred, opts.onProgress ? (d, t) => opts.onProgress!(Math.round((n * d) / t), n) : undefined);
    return this.decide(s, sp, rule);
  }

  /** The flags of {@link detect}, [n], 1 = adversarial. */
  async flags(x: tf.Tensor4D, opts: PCLDetectOptions = {}): Promise<Uint8Array> {
    return (await this.detect(x, opts)).adversarial;
  }

  /**
   * The fraction of the held-out clean images (kept by `fit`/`calibrate`: never fitted on, classified
   * correctly by the victim) that `rule` flags at `sp`, with their number; undefined without held-out
   * scores. For 'calibrated' these are the images its threshold was set on, so the rate is SP up to
   * ties and rounding; for 'or' it is an honest measurement of what the paper's rule does to clean data.
   */
  cleanFalseAlarmRate(sp: number = this.params.sp, rule: FusionRule = this.params.fusion): { rate: number; n: number } | undefined {
    const st = this.state_;
    assertFitted(st, 'PCLDetector');
    if (!st.heldout || st.heldout.classes.length === 0) return undefined;
    if (rule === 'calibrated' && !st.fusion) return undefined;
    const a = this.decideFlags({ yPred: st.heldout.classes, scores: st.heldout.scores }, checkSp('PCLDetector.cleanFalseAlarmRate', sp), rule).adversarial;
    return { rate: a.reduce((p, v) => p + v, 0) / a.length, n: a.length };
  }

  /** Applies a decision rule to precomputed scores (no model evaluation). */
  decide(s: PCLScores, sp: number, rule: FusionRule = this.params.fusion): PCLDetection {
    const { adversarial, alarms, fused } = this.decideFlags(s, sp, rule);
    const clean = this.cleanFalseAlarmRate(sp, rule);
    const report: DetectionSummary = {
      detector: 'PCL',
      rule,
      sp,
      flagged: adversarial.reduce((p, v) => p + v, 0),
      total: adversarial.length,
      ...(clean ? { cleanFalseAlarmRate: clean.rate, cleanSamples: clean.n } : {}),
    };
    return { ...s, adversarial, alarms, fused, report };
  }

  private decideFlags(s: PCLScores, sp: number, rule: FusionRule): { adversarial: Uint8Array; alarms: Uint8Array[]; fused?: Float64Array } {
    assertFitted(this.state_, 'PCLDetector');
    const n = s.yPred.length;
    const alarms = this.defenders.map((d, j) => {
      const thr = d.thresholds(this.spFor(d.label, sp));
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) a[i] = s.scores[j][i] > thr[s.yPred[i]] ? 1 : 0;
      return a;
    });
    const adversarial = new Uint8Array(n);
    let fused: Float64Array | undefined;
    if (this.state_.fusion) fused = calibratedFusionScores(this.state_.fusion, { scores: s.scores, classes: s.yPred });
    if (rule === 'or') {
      for (const a of alarms) for (let i = 0; i < n; i++) adversarial[i] |= a[i];
    } else {
      if (!this.state_.fusion || !fused) {
        throw new ArgumentError(
          `PCLDetector.detect: fusion 'calibrated' needs held-out clean scores: fit with calibrationFraction > 0, call calibrate(cleanImages), or pass fusion: 'or'`,
        );
      }
      const t = calibratedFusionThreshold(this.state_.fusion, sp);
      for (let i = 0; i < n; i++) adversarial[i] = fused[i] > t ? 1 : 0;
    }
    return { adversarial, alarms, fused };
  }

  /**
   * Writes the bundle: `manifest.json` (params, per-defender thresholds at SP, fusion calibration,
   * sha256 of every file), `victim/` (a copy of the victim model) and `defenders/<i>/` (one bundle
   * per defender). `dir`: a folder path or `file://` URL (Node), `indexeddb://NAME` or
   * `downloads://NAME` (browser), or any `BundleStore`. Atomic: a failure leaves any previous bundle
   * at `dir` untouched.
   */
  async save(dir: BundleLocation): Promise<void> {
    const st = this.state_;
    assertFitted(st, 'PCLDetector');
    await saveBundle(dir, async (tmp) => {
      await saveModelCopy(this.victim.model, subStore(tmp, 'victim'));
      const children: Record<string, string> = { victim: 'victim/' };
      for (let j = 0; j < this.defenders.length; j++) {
        await this.defenders[j].save(subStore(tmp, `defenders/${j}`));
        children[this.defenders[j].label] = `defenders/${j}/`;
      }
      const files = listFiles(tmp).filter((f) => f !== 'manifest.json' && f !== 'weights.bin');
      const tensors: tf.NamedTensorMap = {};
      if (st.fusion) tensors['fusion/heldout'] = tf.tensor1d(Float32Array.from(st.fusion.heldoutSorted));
      if (st.heldout) {
        st.heldout.scores.forEach((s, j) => (tensors[`fusion/heldout-scores/${j}`] = tf.tensor1d(s)));
        tensors['fusion/heldout-classes'] = tf.tensor1d(st.heldout.classes, 'int32');
      }
      try {
        await writeBundle(
          tmp,
          {
            name: PCLDetector.detectorName,
            params: { ...this.params },
            attributes: {
              numClasses: this.victim.numClasses,
              defenders: this.defenders.map((d, j) => ({
                label: d.label,
                kind: d.kind,
                dir: `defenders/${j}/`,
                sp: this.spFor(d.label),
                thresholds: Array.from(d.thresholds(this.spFor(d.label))),
              })),
              fusion: st.fusion
                ? { method: st.fusion.method, heldout: st.fusion.heldoutSorted.length, tail: st.fusion.tail === true, recalibrated: st.fusion.heldoutEvidence !== undefined }
                : null,
            },
            children,
          },
          tensors,
          files,
        );
      } finally {
        for (const t of Object.values(tensors)) t.dispose();
      }
    });
  }

  /**
   * Loads a bundle written by {@link save}: verifies format, version and the sha256 of every file
   * (victim and defenders included) and refuses a tampered or mismatched bundle with a
   * `ManifestError` naming the file. `dir`: a folder path or `file://` URL (Node), an
   * `https://…/manifest.json` URL (Node and browsers, via `fetch`), `indexeddb://NAME` (browser), or
   * any `BundleStore` (e.g. `bundleFromZip(bytes)`), following TensorFlow.js's IO conventions.
   */
  static async load(dir: BundleLocation): Promise<PCLDetector> {
    const { manifest, tensors, store } = await readBundle(dir, PCLDetector.detectorName);
    let victim: Classifier | undefined;
    const defenders: Detector[] = [];
    try {
      victim = new Classifier(await loadModelCopy(subStore(store, 'victim')));
      const attrs = manifest.attributes as { numClasses: number; defenders: { label: string; kind: string; dir: string }[]; fusion: { method: FusionMethod; tail?: boolean; recalibrated?: boolean } | null };
      if (attrs.numClasses !== victim.numClasses) {
        throw new ManifestError(`${store.describe('manifest.json')}: bundle has ${attrs.numClasses} classes, its victim copy has ${victim.numClasses}`);
      }
      for (const d of attrs.defenders) {
        const sub = subStore(store, d.dir);
        await sub.read('manifest.json').catch(() => {
          throw new ManifestError(`${sub.location}: defender '${d.label}' listed in the manifest is missing`);
        });
        defenders.push(await loadDetector(sub, { victim }));
      }
      const det = new PCLDetector(victim, manifest.params as Partial<PCLDetectorParams>, defenders);
      let fusion: CalibratedFusionModel | undefined;
      if (attrs.fusion) {
        const t = tensors['fusion/heldout'];
        if (!t) throw new ManifestError(`${store.describe('manifest.json')}: missing weight 'fusion/heldout'`);
        fusion = {
          method: attrs.fusion.method,
          calibrations: det.calibrations(),
          heldoutSorted: Float64Array.from(t.dataSync()),
          ...(attrs.fusion.tail ? { tail: true } : {}),
        };
      }
      let heldout: PCLState['heldout'];
      const hc = tensors['fusion/heldout-classes'];
      if (hc) {
        const scores = defenders.map((_, j) => {
          const t = tensors[`fusion/heldout-scores/${j}`];
          if (!t || t.size !== hc.size) throw new ManifestError(`${store.describe('manifest.json')}: missing or mis-sized weight 'fusion/heldout-scores/${j}'`);
          return Float32Array.from(t.dataSync());
        });
        heldout = { scores, classes: Int32Array.from(hc.dataSync()) };
      }
      if (fusion && attrs.fusion?.recalibrated) {
        if (!heldout) throw new ManifestError(`${store.describe('manifest.json')}: the fusion is recalibrated but the held-out scores are missing`);
        fusion.heldoutEvidence = heldoutEvidenceOf(fusion.calibrations, heldout);
      }
      det.state_ = { fusion, heldout };
      det.ownsVictim_ = true;
      return det;
    } catch (e) {
      for (const d of defenders) d.dispose();
      victim?.model.dispose();
      throw e;
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  /** Frees every defender (and the victim, when {@link PCLDetector.load} built it from the bundle's copy). */
  dispose(): void {
    for (const d of this.defenders) d.dispose();
    this.state_ = undefined;
    if (this.ownsVictim_) {
      this.victim.model.dispose();
      this.ownsVictim_ = false;
    }
  }
}

/** Stratified, seeded split of indices into a fitting part and a held-out calibration part. */
export function splitHoldout(labels: ArrayLike<number>, fraction: number, seed: number): { fitIdx: Int32Array; calIdx: Int32Array } {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i];
    if (!byClass.has(k)) byClass.set(k, []);
    byClass.get(k)!.push(i);
  }
  const rng = new Rng(seed);
  const fit: number[] = [];
  const cal: number[] = [];
  for (const k of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = rng.shuffle(byClass.get(k)!);
    const nCal = Math.floor(idx.length * fraction);
    cal.push(...idx.slice(0, nCal));
    fit.push(...idx.slice(nCal));
  }
  fit.sort((a, b) => a - b);
  cal.sort((a, b) => a - b);
  return { fitIdx: Int32Array.from(fit), calIdx: Int32Array.from(cal) };
}
