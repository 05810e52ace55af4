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

/** Node's `process`, where there is one (browsers have none; the core must not assume it). */
const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; stderr?: { isTTY?: boolean; write(s: string): unknown } } }).process;
const progressOn = () => globalEnabled && proc?.env?.PCL_PROGRESS !== '0';
/** One line to stderr (Node) or the console (browsers). */
function writeLine(line: string): void {
  if (proc?.stderr) proc.stderr.write(`${line}\n`);
  else console.info(line);
}

/** Makes a live bar for a terminal; the Node entry registers one (cli-progress). */
export type TtyBarFactory = (label: string, total: number) => Progress;
let ttyBar: TtyBarFactory | undefined;
/** Registers the terminal progress bar (the Node entry does; elsewhere progress prints plain lines). */
export function registerTtyProgressBar(f: TtyBarFactory | undefined): void {
  ttyBar = f;
}

/**
 * Starts a progress bar of `total` steps labelled `label` on stderr.
 * On a non-TTY stderr (or without a registered terminal bar) it prints a plain status line every few seconds instead.
 */
export function progressBar(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const enabled = opts.enabled ?? progressOn();
  if (!enabled) return NOOP;
  if (!proc?.stderr?.isTTY || !ttyBar) return lineProgress(label, total);
  return ttyBar(label, total);
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
      writeLine(`${label}: ${value}/${total}${status ? ` ${status}` : ''}`);
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
  if (progressOn()) writeLine(message);
}
