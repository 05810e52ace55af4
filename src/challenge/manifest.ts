/**
 * The PCL challenge folder: what `pcl challenge pack` freezes and `pcl challenge score` verifies.
 *
 * ```
 * CH/challenge.json        this manifest (format, budget, SP, decision rule, sha256 of every other file)
 * CH/detector/             a copy of the detector bundle (its own manifest; the victim is detector/victim/)
 * CH/x_clean.idx           float32 [n, h, w, c]: the clean test images to attack, in row order
 * CH/y_true.idx            uint8 [n]: their true labels
 * CH/x_clean_index.idx     int32 [n]: their indices in the dataset's test split
 * ```
 *
 * The rows are correctly classified test images drawn in a seeded order, so a submission has one
 * adversarial image per row. Every file is listed with its sha256; scoring refuses a folder whose
 * files do not match, so the victim, the detector, the rows and the budget cannot drift.
 *
 * @see Rouhani et al. (2018) who invite attacks "in the form of a challenge"; the MadryLab MNIST
 *   challenge for the format of a frozen model + fixed test rows + budget + leaderboard.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ManifestError, PclError } from '../errors.js';
import { PACKAGE_VERSION } from '../version.js';
import { readIdx } from '../io/idx.js';

export const CHALLENGE_FORMAT = 'pcl-challenge';
export const CHALLENGE_FORMAT_VERSION = 1;
export const CHALLENGE_MANIFEST = 'challenge.json';

/** File names inside a challenge folder. */
export const CHALLENGE_FILES = Object.freeze({
  detector: 'detector',
  xClean: 'x_clean.idx',
  yTrue: 'y_true.idx',
  cleanIndex: 'x_clean_index.idx',
});

/** A submission that cannot be scored (wrong shape or dtype, NaN, out of range, over budget, …). */
export class SubmissionError extends PclError {}

/** The attacker's budget: every row's perturbation must satisfy both bounds. */
export interface ChallengeBudget {
  /** Maximum ‖x′ − x‖₂ per row. */
  l2: number;
  /** Maximum ‖x′ − x‖∞ per row, or null for none. */
  linf: number | null;
}

/** `challenge.json`. */
export interface ChallengeManifest {
  format: typeof CHALLENGE_FORMAT;
  formatVersion: number;
  generatedBy: string;
  /** sha256 of the canonical JSON of every field but `id` (identifies the challenge on a leaderboard). */
  id: string;
  /** Dataset spec the rows were drawn from (test split), e.g. `mnist`. */
  dataset: string;
  /** Seed of the row order. */
  seed: number;
  /** Rows to attack. */
  n: number;
  /** [h, w, c] of one image. */
  imageShape: [number, number, number];
  numClasses: number;
  budget: ChallengeBudget;
  /** Security parameter (percent) at which the detector judges submissions. */
  sp: number;
  /** The detector's decision rule at that SP ('or' or 'calibrated'). */
  fusion: string;
  /** Clean false-alarm rate of the detector on the n clean rows at this SP and rule (for reference). */
  cleanFalseAlarmRate: number;
  /** Relative path → sha256 of every file of the folder except this manifest. */
  sha256: Record<string, string>;
  createdAt: string;
}

export function sha256Hex(buf: Uint8Array | string): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** The manifest's `id`: sha256 of its JSON without `id` and `createdAt` (stable key order). */
export function challengeId(m: Omit<ChallengeManifest, 'id'> | ChallengeManifest): string {
  const rest: Record<string, unknown> = { ...m };
  delete rest.id;
  delete rest.createdAt;
  const canon = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]))
      : Array.isArray(v)
        ? v.map(canon)
        : v;
  return sha256Hex(JSON.stringify(canon(rest)));
}

/** Every file under `dir`, as sorted paths relative to it. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = path.join(prefix, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** sha256 of every file under `dir` except the challenge manifest (relative paths, '/' separators). */
export async function hashFolder(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await listFiles(dir)) {
    const key = rel.split(path.sep).join('/');
    if (key === CHALLENGE_MANIFEST) continue;
    out[key] = sha256Hex(await fs.readFile(path.join(dir, rel)));
  }
  return out;
}

/** A challenge read back and verified. */
export interface Challenge {
  dir: string;
  manifest: ChallengeManifest;
  /** Clean images [n, h, w, c] (flat, float32). */
  xClean: Float32Array;
  /** True labels [n]. */
  yTrue: Int32Array;
  /** Test-split index of each row. */
  indices: Int32Array;
  /** The detector bundle folder inside the challenge. */
  detectorDir: string;
}

/**
 * Reads `CH/challenge.json`, checks format and version, the sha256 of every listed file and that
 * no file was added, and reads the clean rows. Throws `ManifestError` naming the offending file.
 */
export async function readChallenge(dir: string): Promise<Challenge> {
  const mpath = path.join(dir, CHALLENGE_MANIFEST);
  let manifest: ChallengeManifest;
  try {
    manifest = JSON.parse(await fs.readFile(mpath, 'utf8'));
  } catch (e) {
    throw new ManifestError(`${mpath}: cannot read the challenge manifest (${(e as Error).message}); is '${dir}' a folder written by 'pcl challenge pack'?`);
  }
  if (manifest.format !== CHALLENGE_FORMAT) throw new ManifestError(`${mpath}: field 'format' is '${manifest.format}', expected '${CHALLENGE_FORMAT}'`);
  if (manifest.formatVersion !== CHALLENGE_FORMAT_VERSION) {
    throw new ManifestError(`${mpath}: field 'formatVersion' is ${manifest.formatVersion}, this pcl-defense reads version ${CHALLENGE_FORMAT_VERSION}`);
  }
  if (manifest.id !== challengeId(manifest)) throw new ManifestError(`${mpath}: field 'id' does not match the manifest's contents (edited by hand?)`);
  const have = await hashFolder(dir);
  for (const [rel, want] of Object.entries(manifest.sha256)) {
    if (have[rel] === undefined) throw new ManifestError(`${path.join(dir, rel)}: listed in ${CHALLENGE_MANIFEST} but missing`);
    if (have[rel] !== want) throw new ManifestError(`${path.join(dir, rel)}: sha256 mismatch (file modified or corrupt)`);
  }
  for (const rel of Object.keys(have)) {
    if (manifest.sha256[rel] === undefined) throw new ManifestError(`${path.join(dir, rel)}: not listed in ${CHALLENGE_MANIFEST} (a challenge folder is frozen)`);
  }
  const x = await readIdx(path.join(dir, CHALLENGE_FILES.xClean));
  const y = await readIdx(path.join(dir, CHALLENGE_FILES.yTrue));
  const ix = await readIdx(path.join(dir, CHALLENGE_FILES.cleanIndex));
  const [h, w, c] = manifest.imageShape;
  const n = manifest.n;
  const shapeOk = x.shape.length === 4 && x.shape[0] === n && x.shape[1] === h && x.shape[2] === w && x.shape[3] === c;
  if (!shapeOk || x.dtype !== 'float32') {
    throw new ManifestError(`${path.join(dir, CHALLENGE_FILES.xClean)}: expected float32 [${n},${h},${w},${c}], got ${x.dtype} [${x.shape}]`);
  }
  if (y.shape.length !== 1 || y.shape[0] !== n) throw new ManifestError(`${path.join(dir, CHALLENGE_FILES.yTrue)}: expected shape [${n}], got [${y.shape}]`);
  if (ix.shape.length !== 1 || ix.shape[0] !== n) throw new ManifestError(`${path.join(dir, CHALLENGE_FILES.cleanIndex)}: expected shape [${n}], got [${ix.shape}]`);
  return {
    dir,
    manifest,
    xClean: x.data as Float32Array,
    yTrue: Int32Array.from(y.data),
    indices: Int32Array.from(ix.data),
    detectorDir: path.join(dir, CHALLENGE_FILES.detector),
  };
}

export const GENERATED_BY = `pcl-defense ${PACKAGE_VERSION}`;
