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
  if (!process.stderr.isTTY) return lineProgress(label, total);
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

/**
 * Progress for a non-TTY stderr (logs, CI): one plain line per 10 % step, and at most one line
 * every 10 s in between, never a repeated unchanged line.
 */
function lineProgress(label: string, total: number): Progress {
  let value = 0;
  let lastDecile = -1;
  let lastPrinted = -1;
  let lastTime = Date.now();
  let status = '';
  const print = (force = false) => {
    const decile = total > 0 ? Math.floor((10 * value) / total) : 10;
    const now = Date.now();
    if (value === lastPrinted) return;
    if (force || decile > lastDecile || now - lastTime > 10_000) {
      process.stderr.write(`${label}: ${value}/${total}${status ? ` ${status}` : ''}\n`);
      lastDecile = decile;
      lastPrinted = value;
      lastTime = now;
    }
  };
  const fmt = (s?: Record<string, string | number>) => {
    if (s) {
      status = Object.entries(s)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(4)) : v}`)
        .join(' ');
    }
  };
  return {
    tick(delta = 1, s) {
      value += delta;
      fmt(s);
      print();
    },
    update(v, s) {
      value = v;
      fmt(s);
      print();
    },
    stop() {
      print(true);
    },
  };
}

/** Log a one-line message to stderr when progress output is on. */
export function info(message: string): void {
  if (globalEnabled && process.env.PCL_PROGRESS !== '0') process.stderr.write(`${message}\n`);
}
