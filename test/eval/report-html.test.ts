import { describe, test, expect } from 'vitest';
import { renderReport, renderTableMarkdown, countPlots, escapeHtml, simplifyCurve, thinSpCurve, type AttackEvaluation } from '../../src/eval/report-html.js';
import { syntheticReport } from './report-fixture.js';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

/** Every way a page could pull something from the network. */
function externalReferences(html: string): string[] {
  const found: string[] = [];
  for (const re of [
    /<script\b/gi,
    /<link\b/gi,
    /<iframe\b/gi,
    /<img\b[^>]*\bsrc\s*=\s*["']?(https?:)?\/\//gi,
    /\b(src|href|xlink:href)\s*=\s*["']?(https?:)?\/\//gi,
    /url\(\s*["']?(https?:)?\/\//gi,
    /@import/gi,
  ]) {
    found.push(...(html.match(re) ?? []));
  }
  return found;
}

describe('renderReport', () => {
  test('one <svg> per provided plot, each in its own figure; self-contained', async () => {
    const data = syntheticReport();
    const html = await renderReport(data);
    const plots = countPlots(data);
    expect(plots).toBe(2 + 1 + 1 + 1 + 1);
    expect(count(html, /<svg\b/g)).toBe(plots);
    expect(count(html, /<\/svg>/g)).toBe(plots);
    const figures = html.match(/<figure class="plot" data-plot="[^"]+">[\s\S]*?<\/figure>/g) ?? [];
    expect(figures.length).toBe(plots);
    for (const f of figures) expect(count(f, /<svg\b/g)).toBe(1);
    expect(externalReferences(html)).toEqual([]);
    // plots drawn by vega: svg with marks, axes and legends
    expect(html).toContain('class="marks"');
    expect(html).toContain('role-axis');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // tables and sections
    expect(html).toContain('Table 1');
    expect(count(html, /<tr class="paper">/g)).toBe(2);
    expect(html).toContain('PCL calibrated fusion');
    expect(html).toContain('Risk view');
    expect(html).toContain('Timings');
    expect(html).toContain('800.0'); // 1000 items / 1.25 s
  });

  test('renders only what is provided', async () => {
    const full = syntheticReport(2, 60, 50);
    const bare = await renderReport({ title: 'bare', dataset: 'mnist' });
    expect(count(bare, /<svg\b/g)).toBe(0);
    expect(bare).not.toContain('Table 1');
    expect(bare).not.toContain('<h2>');
    const one = await renderReport({ title: 'one', dataset: 'mnist', confusionCharts: [{ ...full.confusionCharts![0], with: undefined }] });
    expect(count(one, /<svg\b/g)).toBe(1);
    expect(one).toContain('data-plot="confusion-0"');
    expect(one).not.toContain('with PCL');
    const two = await renderReport({ title: 'two', dataset: 'mnist', rocCharts: full.rocCharts, attacks: full.attacks });
    expect(count(two, /<svg\b/g)).toBe(2);
    expect(two).toContain('Table 1');
  });

  test('escapes user text', async () => {
    const html = await renderReport({ title: '<script>alert(1)</script>', dataset: 'a&b', notes: ['x < y'] });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('a&amp;b');
    expect(escapeHtml(`"'`)).toBe('&quot;&#39;');
  });

  test('rejects malformed data with a message naming the field', async () => {
    await expect(renderReport({ title: '', dataset: 'mnist' })).rejects.toThrow(/non-empty 'title'/);
    const bad: AttackEvaluation = { attack: 'FGSM', nClean: 1, nAdv: 1, detectors: [{ detector: 'x', auroc: 0.5, fprAt: [0.1] }] };
    await expect(renderReport({ title: 't', dataset: 'mnist', attacks: [bad] })).rejects.toThrow(
      /'attacks\[0\].detectors\[0\].fprAt' to have 4 values \(90\/95\/98\/99 %\), got 1/,
    );
  });

  test('simplifyCurve keeps only the corners of a step curve', () => {
    const pts = [
      { fpr: 0, tpr: 0 },
      { fpr: 0, tpr: 0.1 },
      { fpr: 0, tpr: 0.2 },
      { fpr: 0.1, tpr: 0.2 },
      { fpr: 0.2, tpr: 0.2 },
      { fpr: 0.2, tpr: 1 },
      { fpr: 1, tpr: 1 },
    ];
    expect(simplifyCurve(pts)).toEqual([
      { fpr: 0, tpr: 0 },
      { fpr: 0, tpr: 0.2 },
      { fpr: 0.2, tpr: 0.2 },
      { fpr: 0.2, tpr: 1 },
      { fpr: 1, tpr: 1 },
    ]);
  });
});

describe('renderTableMarkdown', () => {
  test("paper's Table 1 layout with the paper's numbers alongside", () => {
    const md = renderTableMarkdown({
      dataset: 'mnist',
      attacks: [
        {
          attack: 'FGSM',
          params: 'ε = 0.1',
          nClean: 982,
          nAdv: 874,
          detectors: [
            { detector: 'PCL latent', auroc: 0.99512, fprAt: [0.0081, 0.0173, 0.0407, 0.0713] },
            { detector: 'Mahalanobis', auroc: 0.97, fprAt: [0.05, 0.1, 0.2, 0.3] },
          ],
          paperFprAt: [0.011, 0.042, 0.124, 0.0284],
          paperNote: 'printed as 2.84 at 99 %',
        },
        {
          attack: 'C&W L2',
          nClean: 982,
          nAdv: 1000,
          detectors: [{ detector: 'PCL | fused', auroc: 0.9, fprAt: [0.02, 0.04, 0.08, 0.08] }],
        },
      ],
    });
    expect(md).toMatchInlineSnapshot(`
      "# False-positive rate (%) at 90 / 95 / 98 / 99 % detection — mnist

      Layout of the paper's Table 1. FP rate on correctly classified clean test samples; detection on successful adversarial samples. 'paper (PCL)' = Rouhani et al. 2018, Table 1.

      | Attack | Detector | 90 % | 95 % | 98 % | 99 % | AUROC | n clean / adv |
      |---|---|---:|---:|---:|---:|---:|---:|
      | FGSM (ε = 0.1) | PCL latent | 0.8 | 1.7 | 4.1 | 7.1 | 0.9951 | 982 / 874 |
      | FGSM (ε = 0.1) | Mahalanobis | 5.0 | 10.0 | 20.0 | 30.0 | 0.9700 | 982 / 874 |
      | FGSM (ε = 0.1) | paper (PCL) [1] | 1.1 | 4.2 | 12.4 | 2.84 | – | – |
      | C&W L2 | PCL \\| fused | 2.0 | 4.0 | 8.0 | 8.0 | 0.9000 | 982 / 1000 |

      [1] FGSM: printed as 2.84 at 99 %
      "
    `);
  });
});

describe('renderTableMarkdown attack summary', () => {
  test('rows with success, mean L2 and L∞ (beyond-the-boundary attacks report their strength)', () => {
    const md = renderTableMarkdown({
      dataset: 'mnist',
      attacks: [
        { attack: 'C&W L2 κ=20', params: 'κ=20, 20×500', nClean: 982, nAdv: 117, successRate: 1, meanL2: 2.1604, meanLinf: 0.4081, detectors: [{ detector: 'PCL input', auroc: 0.78, fprAt: [0.69, 0.79, 0.82, 0.9] }] },
        { attack: 'PGD L∞ ε=0.1', nClean: 982, nAdv: 0, successRate: 0, detectors: [] },
      ],
    });
    expect(md.split('## Attacks')[1]).toBe(
      '\n\n| Attack | success | mean L2 | mean L∞ |\n|---|---:|---:|---:|\n| C&W L2 κ=20 (κ=20, 20×500) | 100.0 % | 2.160 | 0.408 |\n| PGD L∞ ε=0.1 | 0.0 % | – | – |\n',
    );
  });
});

describe('renderTableMarkdown per plan', () => {
  test('a row of several plans (FGSM ε list) gets a table of each plan on its own', () => {
    const md = renderTableMarkdown({
      dataset: 'cifar10',
      attacks: [
        {
          attack: 'FGSM',
          params: 'ε=0.05; ε=0.5',
          nClean: 122,
          nAdv: 200,
          successRate: 0.8,
          detectors: [{ detector: 'PCL input', auroc: 0.97, fprAt: [0.1, 0.2, 0.3, 0.4] }],
          perPlan: [
            { label: 'ε=0.05', successRate: 0.6, meanL2: 2.7412, nAdv: 80, detectors: [{ detector: 'PCL input', auroc: 0.91, fprAt: [0.2, 0.3, 0.4, 0.5] }] },
            { label: 'ε=0.5', successRate: 1, meanL2: 23.18, nAdv: 120, detectors: [{ detector: 'PCL input', auroc: 1, fprAt: [0, 0, 0, 0.01] }] },
            { label: 'ε=0.9', successRate: 0, meanL2: 0, nAdv: 0, detectors: [] },
          ],
        },
        { attack: 'C&W L2', nClean: 122, nAdv: 100, detectors: [{ detector: 'PCL input', auroc: 0.5, fprAt: [0.9, 0.9, 0.9, 0.9] }] },
      ],
    });
    expect(md.split('## FGSM, each plan on its own')[1]).toBe(
      '\n\n| Plan | success | mean L2 | Detector | 90 % | 95 % | 98 % | 99 % | AUROC | n clean / adv |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n' +
        '| ε=0.05 | 60.0 % | 2.741 | PCL input | 20.0 | 30.0 | 40.0 | 50.0 | 0.9100 | 122 / 80 |\n' +
        '| ε=0.5 | 100.0 % | 23.180 | PCL input | 0.0 | 0.0 | 0.0 | 1.0 | 1.0000 | 122 / 120 |\n' +
        '| ε=0.9 | 0.0 % | – | (no successful examples) | – | – | – | – | – | 122 / 0 |\n',
    );
    expect(md).not.toContain('## C&W L2, each plan');
  });
});

describe('thinSpCurve', () => {
  test('keeps the ends of runs of equal rates, drops SP = 0, caps the length', () => {
    const pts = [0, 1, 2, 3, 4, 5].map((sp) => ({ sp, fpr: sp < 4 ? 0.1 : 0.5, tpr: sp < 4 ? 0.5 : 0.9 }));
    expect(thinSpCurve(pts).map((p) => p.sp)).toEqual([1, 3, 4, 5]);
    const many = Array.from({ length: 1000 }, (_, i) => ({ sp: (i + 1) / 10, fpr: i / 1000, tpr: i / 999 }));
    const thin = thinSpCurve(many, 100);
    expect(thin.length).toBeLessThanOrEqual(101);
    expect(thin[0].sp).toBe(0.1);
    expect(thin.at(-1)!.sp).toBe(100);
  });
});
