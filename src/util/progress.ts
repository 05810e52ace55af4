import cliProgress from 'cli-progress';

/** A progress reporter. Everything goes to stderr so stdout stays machine-readable. */
export interface Progress {
  /** Advance by `delta` and optionally update the status fields shown after the bar. */
  tick(delta?: number, status?: Record<string, string | number>): void;
  /** Set absolute progress. */
  update(value: number, status?: Record<string, string | number>): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Silence the bar (library default). The CLI turns it on. */
  enabled?: boolean;
}

let globalEnabled = false;
/** The CLI calls this once; library callers stay silent unless they opt in. */
export function setProgressEnabled(on: boolean): void {
  globalEnabled = on;
}

const NOOP: Progress = { tick() {}, update() {}, stop() {} };

/**
 * Starts a progress bar of `total` steps labelled `label` on stderr.
 * On a non-TTY stderr it prints a plain status line every few seconds instead.
 */
export function progressBar(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const enabled = opts.enabled ?? (globalEnabled && process.env.PCL_PROGRESS !== '0');
  if (!enabled) return NOOP;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label.padEnd(18)} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted} {status}`,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      hideCursor: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: '' });
  let value = 0;
  const fmt = (s?: Record<string, string | number>) =>
    s
      ? {
          status: Object.entries(s)
            .map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(4)) : v}`)
            .join(' '),
        }
      : undefined;
  return {
    tick(delta = 1, status) {
      value += delta;
      bar.update(value, fmt(status));
    },
    update(v, status) {
      value = v;
      bar.update(v, fmt(status));
    },
    stop() {
      bar.stop();
    },
  };
}

/** Log a one-line message to stderr when progress output is on. */
export function info(message: string): void {
  if (globalEnabled && process.env.PCL_PROGRESS !== '0') process.stderr.write(`${message}\n`);
}
