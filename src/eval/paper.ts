/**
 * The paper's published numbers, for side-by-side tables.
 *
 * @see Rouhani et al., "Towards safe deep learning: unsupervised defense against generic adversarial
 * attacks" (ICLR 2018 submission), Table 1 — PCL-METHOD.md §6.
 */
/** One row of the paper's Table 1: false-positive rates (fractions) at the detection levels 0.9 / 0.95 / 0.98 / 0.99 (`DETECTION_LEVELS`). */
export interface PaperRow {
  /** FP rate as a fraction at 90 / 95 / 98 / 99 % detection. */
  readonly fprAt: readonly number[];
  /** A remark on the printed value, if any. */
  readonly note?: string;
}

/** Dataset keys of {@link PAPER_TABLE1}. */
export type PaperDataset = 'mnist' | 'cifar10' | 'imagenet10';
/** Attack keys of {@link PAPER_TABLE1} (the CLI's attack names). */
export type PaperAttack = 'fgsm' | 'jsma' | 'deepfool' | 'cw-l2';

const row = (pct: number[], note?: string): PaperRow =>
  Object.freeze({ fprAt: Object.freeze(pct.map((v) => v / 100)), ...(note ? { note } : {}) });

/**
 * The paper's Table 1 (PCL, one latent defender at the second-to-last layer): FP rate (fraction) at
 * 90 / 95 / 98 / 99 % detection. JSMA was not run on ImageNet-10.
 */
export const PAPER_TABLE1: Readonly<Record<PaperDataset, Readonly<Partial<Record<PaperAttack, PaperRow>>>>> = Object.freeze({
  mnist: Object.freeze({
    fgsm: row([1.1, 4.2, 12.4, 2.84], 'printed as 2.84 at 99 %, below its own 98 % value (12.4): likely a typo'),
    jsma: row([2.1, 4.2, 8.0, 12.4]),
    deepfool: row([2.8, 5.9, 8.0, 12.4]),
    'cw-l2': row([2.8, 4.2, 8.0, 8.0]),
  }),
  cifar10: Object.freeze({
    fgsm: row([8.1, 21.1, 62.9, 62.9]),
    jsma: row([8.1, 14.9, 21.1, 33.0]),
    deepfool: row([12.0, 17.9, 33.0, 40.8]),
    'cw-l2': row([12.0, 17.9, 33.1, 40.8]),
  }),
  imagenet10: Object.freeze({
    fgsm: row([14.2, 26.8, 60.7, 60.7]),
    deepfool: row([8.1, 8.1, 14.2, 21.5]),
    'cw-l2': row([7.9, 7.9, 14.0, 21.3]),
  }),
});

const ATTACK_ALIASES: Record<string, PaperAttack> = {
  fgsm: 'fgsm',
  fgs: 'fgsm',
  jsma: 'jsma',
  deepfool: 'deepfool',
  'cw-l2': 'cw-l2',
  cw: 'cw-l2',
  cwl2: 'cw-l2',
  'c&w l2': 'cw-l2',
  'c&w': 'cw-l2',
};

/**
 * Looks up the paper's row for a dataset spec (`mnist`, `cifar10:DIR`, `imagenet10:DIR`, `idx:DIR` → none)
 * and an attack name (CLI names and common spellings: 'FGS', 'C&W L2', …). Undefined if the paper has none.
 * Only the attack's *name* is matched: the paper's rows pool several attack parameters (its Table 3).
 */
export function paperTable1(dataset: string, attack: string): PaperRow | undefined {
  const ds = dataset.split(':')[0].toLowerCase().replace(/[-_]/g, '') as PaperDataset;
  const at = ATTACK_ALIASES[attack.toLowerCase().replace(/_/g, '-').trim()];
  if (at === undefined || !(ds in PAPER_TABLE1)) return undefined;
  return PAPER_TABLE1[ds][at];
}
