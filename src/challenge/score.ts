import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { ArgumentError } from '../errors.js';
import { PCLDetector, type FusionRule } from '../defense/pcl.js';
import { writeFileAtomic } from '../io/atomic.js';
import { initEngine } from '../engine/backend.js';
import { readChallenge, sha256Hex, SubmissionError, type Challenge, type ChallengeBudget } from './manifest.js';
import { readSubmission, validateSubmission } from './submission.js';

/** The verdict on one row of a submission. */
export interface RowVerdict {
  /** Row of the challenge (0-based). */
  row: number;
  /** Test-split index of the clean image. */
  index: number;
  label: number;
  predicted: number;
  /** The victim's label differs from the true label. */
  fooled: boolean;
  /** The detector raises an alarm at the challenge's SP. */
  alarm: boolean;
  /** fooled AND no alarm. */
  success: boolean;
  l2: number;
  linf: number;
}

/** A leaderboard entry (what `pcl challenge score` prints). */
export interface LeaderboardEntry {
  name: string;
  challenge: string;
  /** sha256 of the submission file. */
  submission: string;
  n: number;
  sp: number;
  fusion: string;
  budget: ChallengeBudget;
  /** Rows that fool the victim and raise no alarm. */
  successes: number;
  successRate: number;
  /** Mean L2 over the successful rows (null when none). */
  meanL2Success: number | null;
  /** Share of rows that fool the victim (alarm or not). */
  fooledRate: number;
  /** Share of the fooling rows the detector flags (null when none fools the victim). */
  detectionRate: number | null;
  scoredAt: string;
  rows: RowVerdict[];
}

/** A leaderboard file: every entry scored on one challenge. */
export interface Leaderboard {
  format: 'pcl-leaderboard';
  challenge: string;
  entries: LeaderboardEntry[];
}

/**
 * Scores adversarial rows `adv` ([n, h, w, c] flat, already validated) on a verified challenge:
 * the victim's prediction and the detector's alarm at the challenge's SP and rule.
 */
export async function judgeRows(ch: Challenge, adv: Float32Array, norms: { l2: ArrayLike<number>; linf: ArrayLike<number> }): Promise<RowVerdict[]> {
  await initEngine();
  const det = await PCLDetector.load(ch.detectorDir);
  const x = tf.tensor4d(adv, [ch.manifest.n, ...ch.manifest.imageShape]);
  try {
    const r = await det.detect(x, { sp: ch.manifest.sp, fusion: ch.manifest.fusion as FusionRule });
    return Array.from({ length: ch.manifest.n }, (_, i) => {
      const fooled = r.yPred[i] !== ch.yTrue[i];
      const alarm = r.adversarial[i] === 1;
      return { row: i, index: ch.indices[i], label: ch.yTrue[i], predicted: r.yPred[i], fooled, alarm, success: fooled && !alarm, l2: norms.l2[i], linf: norms.linf[i] };
    });
  } finally {
    x.dispose();
    det.dispose();
  }
}

/** Aggregates verdicts into a leaderboard entry. */
export function makeEntry(ch: Challenge, name: string, submissionSha: string, rows: RowVerdict[]): LeaderboardEntry {
  const n = rows.length;
  const succ = rows.filter((r) => r.success);
  const fooled = rows.filter((r) => r.fooled);
  return {
    name,
    challenge: ch.manifest.id,
    submission: submissionSha,
    n,
    sp: ch.manifest.sp,
    fusion: ch.manifest.fusion,
    budget: ch.manifest.budget,
    successes: succ.length,
    successRate: succ.length / n,
    meanL2Success: succ.length ? succ.reduce((a, r) => a + r.l2, 0) / succ.length : null,
    fooledRate: fooled.length / n,
    detectionRate: fooled.length ? fooled.filter((r) => r.alarm).length / fooled.length : null,
    scoredAt: new Date().toISOString(),
    rows,
  };
}

/** Options of {@link scoreChallenge}. */
export interface ScoreOptions {
  /** Challenge folder written by `pcl challenge pack`. */
  challenge: string;
  /** Submission: IDX float32 [n, h, w, c], one row per challenge row. */
  submission: string;
  /** Leaderboard JSON file to append the entry to (created if missing; written atomically). */
  leaderboard?: string;
  /** Name on the leaderboard; default the submission's file name. */
  name?: string;
}

async function readLeaderboard(file: string, challengeId: string): Promise<Leaderboard> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { format: 'pcl-leaderboard', challenge: challengeId, entries: [] };
    throw e;
  }
  let lb: Leaderboard;
  try {
    lb = JSON.parse(text);
  } catch (e) {
    throw new ArgumentError(`--leaderboard ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (lb.format !== 'pcl-leaderboard' || !Array.isArray(lb.entries)) throw new ArgumentError(`--leaderboard ${file}: not a pcl leaderboard file (expected format 'pcl-leaderboard')`);
  if (lb.challenge !== challengeId) throw new ArgumentError(`--leaderboard ${file}: belongs to challenge ${lb.challenge}, not ${challengeId}`);
  return lb;
}

/**
 * `pcl challenge score`: verifies the challenge folder, refuses a malformed submission with a
 * `SubmissionError` naming the first offending rows (nothing is written then), judges every row
 * (success = the victim is fooled AND the detector raises no alarm at the challenge's SP) and, when
 * asked, appends the entry to the leaderboard file atomically. Returns the entry.
 */
export async function scoreChallenge(opts: ScoreOptions): Promise<LeaderboardEntry> {
  const ch = await readChallenge(opts.challenge);
  // read the leaderboard first: a wrong one is refused before any work
  const lb = opts.leaderboard ? await readLeaderboard(opts.leaderboard, ch.manifest.id) : undefined;
  const raw = await fs.readFile(opts.submission).catch((e: Error) => {
    throw new SubmissionError(`submission ${opts.submission}: cannot read (${e.message})`);
  });
  const sub = await readSubmission(opts.submission);
  const norms = validateSubmission(sub, ch.xClean, [ch.manifest.n, ...ch.manifest.imageShape], ch.manifest.budget, opts.submission);
  const rows = await judgeRows(ch, sub.data as Float32Array, norms);
  const entry = makeEntry(ch, opts.name ?? opts.submission.split(/[\\/]/).pop()!, sha256Hex(raw), rows);
  if (lb && opts.leaderboard) {
    lb.entries.push(entry);
    await writeFileAtomic(opts.leaderboard, `${JSON.stringify(lb, null, 1)}\n`);
  }
  return entry;
}
