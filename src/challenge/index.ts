/**
 * The PCL challenge: freeze a victim + detector + test rows + budget + SP (`packChallenge`), score
 * submissions against it (`scoreChallenge`), and attack its rows to produce a valid submission
 * (`attackChallenge`). Re-exports only.
 */
export {
  CHALLENGE_FORMAT,
  CHALLENGE_FORMAT_VERSION,
  CHALLENGE_FILES,
  CHALLENGE_MANIFEST,
  SubmissionError,
  readChallenge,
  type Challenge,
  type ChallengeBudget,
  type ChallengeManifest,
} from './manifest.js';
export { packChallenge, type PackOptions } from './pack.js';
export { BUDGET_SLACK, validateSubmission, projectToBudget, rowNorms } from './submission.js';
export { scoreChallenge, type LeaderboardEntry, type Leaderboard, type RowVerdict, type ScoreOptions } from './score.js';
export { attackChallenge, type ChallengeAttackOptions, type ChallengeAttackSummary, type ChallengeAttackFactory } from './attack.js';
