/**
 * A defender's clean distribution as a small SVG histogram: the clean training scores of the
 * predicted class (grey bars), the threshold at the current SP (red dashed line) and this input's
 * score (blue marker; drawn at the right edge, with an arrow, when it lies beyond every clean score).
 */
export function histogramSvg(clean: Float32Array, score: number, threshold: number, width = 440, height = 64): string {
  const bins = 40;
  const lo = clean[0];
  const hiClean = clean[clean.length - 1];
  const hi = Math.max(hiClean, Number.isFinite(threshold) ? threshold : hiClean) + 1e-9;
  const counts = new Array<number>(bins).fill(0);
  for (const s of clean) counts[Math.min(bins - 1, Math.floor(((s - lo) / (hi - lo)) * bins))]++;
  const max = Math.max(...counts);
  const plotW = width - 14;
  const x = (v: number) => 2 + (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo) * plotW;
  const bw = plotW / bins;
  const bars = counts
    .map((c, i) => `<rect x="${(2 + i * bw).toFixed(1)}" y="${(height - 12 - (c / max) * (height - 18)).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${((c / max) * (height - 18)).toFixed(1)}" fill="#b8bfcc"/>`)
    .join('');
  const thr = Number.isFinite(threshold) ? `<line x1="${x(threshold)}" x2="${x(threshold)}" y1="2" y2="${height - 12}" stroke="#c62828" stroke-dasharray="3 2"/>` : '';
  const beyond = score > hi;
  const sx = beyond ? width - 6 : x(score);
  const marker = `<line x1="${sx}" x2="${sx}" y1="2" y2="${height - 12}" stroke="#2f5bb7" stroke-width="2.5"/>${beyond ? `<text x="${width - 10}" y="${height - 1}" font-size="10" text-anchor="end" fill="#2f5bb7">beyond every clean score →</text>` : ''}`;
  return `<svg width="${width}" height="${height}" role="img" aria-label="clean score distribution with this input's score">${bars}${thr}${marker}<text x="2" y="${height - 1}" font-size="10" fill="#667">clean ← score → adversarial</text></svg>`;
}
