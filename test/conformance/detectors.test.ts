/** The detector conformance suite (`detector.conformance.ts`) on every detector and every latent scoring. */
import { PCLDetector } from '../../src/defense/pcl.js';
import { InputDefender } from '../../src/defense/input/input-defender.js';
import { NoiseDefender } from '../../src/defense/input/noise-defender.js';
import { LatentDefender } from '../../src/defense/latent/latent-defender.js';
import { MultiLatentDefender } from '../../src/defense/latent/multi-latent-defender.js';
import { LATENT_SCORINGS } from '../../src/defense/latent/scoring.js';
import { MahalanobisDetector, PcaCentreDetector } from '../../src/defense/baselines/index.js';
import { loadDetector } from '../../src/defense/persistence.js';
import { detectorConformance, detectorOps, type ConformanceOps } from './detector.conformance.js';

const load = (dir: string, victim: unknown) => loadDetector(dir, victim ? { victim } : {});
const latent = { epochs: 1, batchSize: 64, lr: 1e-3 };
const input = { patchSize: 2, nAtoms: 6, patchesPerClass: 400, nNonzero: 2, epochs: 1, batchSize: 32, workers: 0, codes: 'omp' as const };

for (const scoring of LATENT_SCORINGS) {
  detectorConformance(`LatentDefender (scoring '${scoring}')`, detectorOps((v) => new LatentDefender(v, { ...latent, scoring }), load));
}
detectorConformance('MultiLatentDefender', detectorOps((v) => new MultiLatentDefender(v, { checkpoints: ['h1', 'h2'], latent }), load));
detectorConformance('InputDefender', detectorOps((v) => new InputDefender(v, input), load, { needsVictim: true }));
detectorConformance('NoiseDefender', detectorOps((v) => new NoiseDefender(v), load, { needsVictim: true }));
detectorConformance('MahalanobisDetector', detectorOps((v) => new MahalanobisDetector(v), load));
detectorConformance('PcaCentreDetector', detectorOps((v) => new PcaCentreDetector(v), load));

/** PCLDetector: the whole detector with its default decision rule (the calibrated fusion). */
const pcl: ConformanceOps<PCLDetector> = {
  make: (v) => new PCLDetector(v, { latent, input, calibrationFraction: 0.3, seed: 0 }),
  fit: (d, x, y) => d.fit(x, y, { seed: 0, progress: false }),
  isFitted: (d) => d.isFitted,
  score: async (d, x) => (await d.detect(x)).fused!,
  flags: async (d, x, sp) => {
    const r = await d.detect(x, { sp });
    if (r.report.cleanFalseAlarmRate === undefined) throw new Error('PCLDetector.detect: no measured clean false-alarm rate in the report');
    return r.adversarial;
  },
  save: (d, dir) => d.save(dir),
  load: (dir) => PCLDetector.load(dir),
  dispose: (d) => d.dispose(),
};
detectorConformance('PCLDetector (calibrated fusion)', pcl);
