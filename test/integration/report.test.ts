/**
 * Opens a rendered report in headless Chromium (Debian's `chromium` via playwright-core), checks that
 * every plot's SVG rendered with a non-zero size, that nothing was fetched from the network and that
 * the console stayed clean, and saves a screenshot to docs/report-screenshot.png.
 *
 * By default the report is rendered from synthetic scores (test/eval/report-fixture.ts). Set
 * PCL_REPORT_HTML=path/to/report.html to check (and screenshot) a real `pcl evaluate`/`reproduce` report.
 */
import { describe, test, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { renderReport, countPlots } from '../../src/eval/report-html.js';
import { syntheticReport } from '../eval/report-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = resolve('docs/report-screenshot.png');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('report.html in a headless browser', () => {
  test('every plot renders with non-zero size, no console errors, no network; screenshot saved', async (ctx) => {
    if (!existsSync(CHROMIUM)) {
      ctx.skip(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser check`);
    }
    const work = mkdtempSync(join(tmpdir(), 'pcl-report-'));
    const profile = mkdtempSync(join(tmpdir(), 'pcl-chromium-profile-'));
    try {
      let file: string;
      let expectedPlots: number;
      const given = process.env.PCL_REPORT_HTML;
      if (given) {
        file = resolve(given);
        expectedPlots = (readFileSync(file, 'utf8').match(/<figure class="plot"/g) ?? []).length;
        expect(expectedPlots, `${file} holds no plots`).toBeGreaterThan(0);
      } else {
        const data = syntheticReport(1, 1000, 1000);
        file = join(work, 'report.html');
        writeFileSync(file, await renderReport(data));
        expectedPlots = countPlots(data);
      }

      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        args: ARGS,
        viewport: { width: 1280, height: 900 },
        offline: true,
      });
      try {
        const errors: string[] = [];
        const external: string[] = [];
        await context.route('**/*', (route) => {
          const url = route.request().url();
          if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
          external.push(url);
          return route.abort();
        });
        const page = await context.newPage();
        page.on('console', (m) => {
          if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
        });
        page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
        await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

        const plots = await page.$$eval('figure.plot', (figs) =>
          figs.map((f) => {
            const svgs = f.querySelectorAll(':scope > svg');
            const svg = svgs[0] as SVGSVGElement | undefined;
            const box = svg?.getBoundingClientRect();
            const marks = svg?.querySelector('g.mark-group') as SVGGElement | null | undefined;
            const bbox = marks?.getBBox();
            return {
              id: f.getAttribute('data-plot'),
              svgs: svgs.length,
              width: box?.width ?? 0,
              height: box?.height ?? 0,
              drawnWidth: bbox?.width ?? 0,
              drawnHeight: bbox?.height ?? 0,
              elements: svg?.querySelectorAll('path, rect, line, text').length ?? 0,
            };
          }),
        );
        expect(plots.length).toBe(expectedPlots);
        for (const p of plots) {
          expect(p.svgs, `${p.id}: svg count`).toBe(1);
          expect(p.width, `${p.id}: svg width`).toBeGreaterThan(100);
          expect(p.height, `${p.id}: svg height`).toBeGreaterThan(100);
          expect(p.drawnWidth, `${p.id}: drawn marks width`).toBeGreaterThan(50);
          expect(p.drawnHeight, `${p.id}: drawn marks height`).toBeGreaterThan(50);
          expect(p.elements, `${p.id}: drawn elements`).toBeGreaterThan(10);
        }
        expect(errors).toEqual([]);
        expect(external).toEqual([]);

        mkdirSync(resolve('docs'), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(readFileSync(SCREENSHOT).subarray(1, 4).toString()).toBe('PNG');
      } finally {
        await context.close();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
