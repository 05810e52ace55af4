import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { PACKAGE_VERSION } from '../src/version.js';

describe('PACKAGE_VERSION', () => {
  test('equals the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string };
    expect(PACKAGE_VERSION).toBe(pkg.version);
  });
  test('src/version.ts imports nothing (no Node built-in in the core)', () => {
    const text = readFileSync(fileURLToPath(new URL('../src/version.ts', import.meta.url)), 'utf8');
    expect(text).not.toMatch(/^\s*import\s/m);
  });
});
