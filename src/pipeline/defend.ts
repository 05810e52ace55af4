import { performance } from 'node:perf_hooks';
import { loadDataset, disposeDataset } from '../data/index.js';
import { PCLDetector, type FusionRule, type PCLDetectorParams } from '../defense/pcl.js';
import { TwinDefender } from '../defense/output/twin-defender.js';
import type { LatentScoring } from '../defense/latent/scoring.js';
import type { FusionMethod } from '../defense/fusion/combine.js';
import { initEngine } from '../engine/backend.js';
import { Classifier } from '../models/classifier.js';
import { loadClassifier } from '../models/io.js';
import { info } from '../util/progress.js';
import { recommendedCheckpoints, recommendedInputParams } from '../defense/recommended.js';

/** Options of {@link defendVictim} (what `pcl defend` takes). */
export interface DefendOptions {
  /** Folder of the victim model (model.json + weights + metrics.json). */
  model: string;
  /** Dataset spec whose *training* split the defenders are fitted on (clean data only). */
  dataset: string;
  /** Output folder of the detector bundle (replaced atomically). */
  out: string;
  /** Latent checkpoint layers (default: {@link recommendedCheckpoints}: fc1 + fc2 on MNIST-like MLPs, else the second-to-last layer). */
  checkpoints?: string[];
  /** Fit the input defender too (default true). */
  inputDefender?: boolean;
  /** Fit the input noise defender too (`NoiseDefender`; default false). */
  noiseDefender?: boolean;
  /** Fit the output margin defender too (`MarginDefender`, 'output:margin'; default false). */
  marginDefender?: boolean;
  /** Model folder of a twin (`TwinDefender`, 'output:twin'): another classifier trained on the same clean data. */
  twin?: string;
  /** Security parameter in percent (default 1). */
  sp?: number;
  /** Default decision rule of the bundle (default 'calibrated': combined false-alarm rate = SP; 'or' = the paper's rule). */
  fusion?: FusionRule;
  /** p-value combination of the calibrated fusion (default: the PCLDetector default, 'fisher'). */
  fusionMethod?: FusionMethod;
  seed?: number;
  /** Fit on a seeded random subset of the training split (default: all of it). */
  limit?: number;
  /** Latent score rule (default: the LatentDefender default, 'combined-disagreement'). */
  latentScoring?: LatentScoring;
  /** Latent fine-tuning epochs (default: the LatentDefender default). */
  latentEpochs?: number;
  /** Random training patches per class for the dictionaries (default: the InputDefender default). */
  patchesPerClass?: number;
  /**
   * Scoring stride of the input defender's patches ('tile' = non-overlapping, the paper; 2 =
   * overlapping, see InputDefenderParams.stride). Default: {@link recommendedInputParams} (2 on
   * grayscale images up to 32 × 32, tiles otherwise).
   */
  inputStride?: number | 'tile';
  /** OMP atoms per patch at scoring (default: {@link recommendedInputParams}: 10 where the stride is 2, else 5). */
  inputAtoms?: number;
  /** Side of the input defender's square patches in pixels (default 'auto': 8, or 7 on sides divisible by 7 only). */
  inputPatch?: number;
  /** Atoms of each class dictionary (default 225; 48 suffice for 2 × 2 × 3 patches, bench/results/input.md § Session 10). */
  dictionarySize?: number;
}

/** Summary of a fitted bundle (what `pcl defend` prints). */
export interface DefendSummary {
  out: string;
  defenders: { label: string; thresholds: number[] }[];
  sp: number;
  fitSeconds: number;
  trainSamples: number;
}

/**
 * Fits a {@link PCLDetector} for the victim in `opts.model` on the clean training split of
 * `opts.dataset`, and saves it as a bundle in `opts.out`. The latent fine-tuning uses the victim's
 * own optimizer at a tenth of its learning rate (read from the victim's metrics.json).
 */
export async function defendVictim(opts: DefendOptions): Promise<DefendSummary> {
  await initEngine();
  const { model, metrics } = await loadClassifier(opts.model);
  const victim = new Classifier(model);
  // a bad --twin folder fails before the training data is read
  const twin = opts.twin ? new Classifier((await loadClassifier(opts.twin)).model) : undefined;
  const train = await loadDataset(opts.dataset, { split: 'train', limit: opts.limit, seed: opts.seed ?? 0 });
  try {
    const latent: Record<string, unknown> = { seed: opts.seed ?? 0 };
    if (typeof metrics.lr === 'number') latent.lr = metrics.lr / 10;
    if (typeof metrics.optimizer === 'string' && ['adam', 'sgd', 'rmsprop', 'adagrad', 'adamax'].includes(metrics.optimizer)) {
      latent.optimizer = metrics.optimizer;
    }
    if (opts.latentEpochs !== undefined) latent.epochs = opts.latentEpochs;
    if (opts.latentScoring !== undefined) latent.scoring = opts.latentScoring;
    const input: Record<string, unknown> = { ...recommendedInputParams(victim.inputShape), seed: opts.seed ?? 0 };
    if (opts.patchesPerClass !== undefined) input.patchesPerClass = opts.patchesPerClass;
    if (opts.inputStride !== undefined) input.stride = opts.inputStride;
    if (opts.inputAtoms !== undefined) input.nNonzero = opts.inputAtoms;
    if (opts.inputPatch !== undefined) input.patchSize = opts.inputPatch;
    if (opts.dictionarySize !== undefined) input.nAtoms = opts.dictionarySize;
    const params: Partial<PCLDetectorParams> = {
      checkpoints: opts.checkpoints ?? nonEmpty(recommendedCheckpoints(victim.layerNames(), victim.inputShape)),
      inputDefender: opts.inputDefender ?? true,
      noiseDefender: opts.noiseDefender ?? false,
      marginDefender: opts.marginDefender ?? false,
      sp: opts.sp ?? 1,
      fusion: opts.fusion ?? 'calibrated',
      ...(opts.fusionMethod ? { fusionMethod: opts.fusionMethod } : {}),
      seed: opts.seed ?? 0,
      latent,
      input,
    };
    // the bundle keeps its own copy of the twin
    const det = new PCLDetector(victim, params, twin ? [...PCLDetector.defaultDefenders(victim, params), new TwinDefender(victim, twin, { sp: params.sp })] : undefined);
    info(`fitting PCL (${det.labels.join(', ')}) on ${train.x.shape[0]} clean training images of ${opts.dataset}`);
    const t0 = performance.now();
    await det.fit(train.x, train.y, { seed: opts.seed ?? 0 });
    const fitSeconds = (performance.now() - t0) / 1000;
    await det.save(opts.out);
    const summary: DefendSummary = {
      out: opts.out,
      defenders: det.defenders.map((d) => ({ label: d.label, thresholds: Array.from(d.thresholds(det.spFor(d.label))) })),
      sp: det.params.sp,
      fitSeconds,
      trainSamples: train.x.shape[0],
    };
    det.dispose();
    return summary;
  } finally {
    twin?.model.dispose();
    disposeDataset(train);
  }
}

function nonEmpty(a: string[]): string[] | undefined {
  return a.length > 0 ? a : undefined;
}
