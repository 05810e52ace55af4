/** Evaluation toolkit: ROC/AUROC/FP-at-detection, fusion, risk view, confusion matrices, report. Re-exports only. */
export * from './roc.js';
export * from './metrics.js';
export * from './fusion.js';
export * from './fusion-weights.js';
export * from './risk.js';
export * from './confusion.js';
export * from './paper.js';
export * from './report-html.js';
