/**
 * Node-only: the live terminal progress bar (cli-progress), registered by the Node entry with
 * `registerTtyProgressBar`. The core's progress.ts stays free of Node built-ins.
 */
import cliProgress from 'cli-progress';
import type { Progress } from './progress.js';

/** A cli-progress bar of `total` steps labelled `label` on stderr. */
export function ttyProgressBar(label: string, total: number): Progress {
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
