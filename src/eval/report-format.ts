/** Small text helpers shared by the Markdown table and the HTML report. */
import { assert } from '../errors.js';
import { DETECTION_LEVELS } from './roc.js';
import type { AttackEvaluation } from './report-types.js';

/** HTML-escapes text for element content and quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Fraction → percent string with one decimal ('–' for missing / non-finite). */
export function formatPercent(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '–' : (x * 100).toFixed(digits);
}

/** The paper's values as printed (up to two decimals, no trailing zeros). */
export function paperPct(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : String(Number((x * 100).toFixed(2)));
}

export function levelHeader(level: number): string {
  return `${Number((level * 100).toFixed(1))} %`;
}


export function checkAttacks(who: string, attacks: readonly AttackEvaluation[]): void {
  attacks.forEach((a, i) => {
    assert(typeof a.attack === 'string', () => `${who}: expected 'attacks[${i}].attack' to be a string, got ${typeof a.attack}`);
    a.detectors.forEach((d, j) =>
      assert(
        d.fprAt.length === DETECTION_LEVELS.length,
        () => `${who}: expected 'attacks[${i}].detectors[${j}].fprAt' to have ${DETECTION_LEVELS.length} values (90/95/98/99 %), got ${d.fprAt.length}`,
      ),
    );
    assert(
      a.paperFprAt === undefined || a.paperFprAt.length === DETECTION_LEVELS.length,
      () => `${who}: expected 'attacks[${i}].paperFprAt' to have ${DETECTION_LEVELS.length} values, got ${a.paperFprAt?.length}`,
    );
  });
}

