/**
 * Shared by the Chromium end-to-end test and the browser bench: find Debian's chromium, build the
 * demo with Vite, serve a folder on localhost (counting the bytes of each response), and launch
 * headless Chromium through playwright-core with the flags this machine needs.
 */
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO = path.join(ROOT, 'demo');
export const DEMO_DIST = path.join(DEMO, 'dist');
export const DEMO_BUNDLE = path.join(DEMO, 'public', 'models', 'mnist', 'pcl', 'manifest.json');

/** Debian's chromium (or PCL_CHROMIUM), or null when none is installed. */
export function findChromium(): string | null {
  for (const p of [process.env.PCL_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return null;
}
export const NO_CHROMIUM_MESSAGE = 'no Chromium found (looked for $PCL_CHROMIUM, /usr/bin/chromium): apt-get install chromium';

/** Headless Chromium with a fresh profile and no background networking (the machine's network is closed). */
export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Builds demo/ into demo/dist with Vite (the same as `npm run demo:build`). */
export async function buildDemo(): Promise<void> {
  const { build } = await import('vite');
  await build({ configFile: path.join(DEMO, 'vite.config.ts'), logLevel: 'error' });
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
};

/** A static file server on 127.0.0.1 for `root`; `bytes` counts the body bytes sent per path. */
export interface StaticServer {
  url: string;
  bytes: Map<string, number>;
  close(): Promise<void>;
}
export async function serveDir(root: string, extra: Record<string, Uint8Array> = {}): Promise<StaticServer> {
  const bytes = new Map<string, number>();
  const server = http.createServer(async (req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let body: Uint8Array | undefined = extra[p];
    if (!body) {
      const f = path.join(root, p.endsWith('/') ? `${p}index.html` : p);
      if (!f.startsWith(root)) {
        res.writeHead(403).end();
        return;
      }
      try {
        body = await fs.readFile(f);
      } catch {
        res.writeHead(404).end();
        return;
      }
    }
    bytes.set(p, (bytes.get(p) ?? 0) + body.byteLength);
    res.writeHead(200, { 'content-type': MIME[path.extname(p)] ?? 'application/octet-stream', 'content-length': body.byteLength });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
