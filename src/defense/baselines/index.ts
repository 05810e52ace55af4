/** Baseline detectors behind the `Detector` interface (re-exports only). */
export { FeatureDetector, type FeatureDetectorParams } from './feature-detector.js';
export { MahalanobisDetector, type MahalanobisParams } from './mahalanobis.js';
export { PcaCentreDetector, type PcaCentreParams } from './pca-centre.js';
