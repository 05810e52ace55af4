import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildFailure, type BuildResult } from 'esbuild';
import { expect, test } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

// Issue 14, must-be-true 1: a browser bundle of an app that imports PCLDetector, the attacks and the
// metrics from the main entry pulls in no Node built-in. esbuild resolves for the browser (it honours
// the `browser` field, with which tfjs and seedrandom map their guarded Node imports to nothing) and
// reports every import it cannot resolve; any of those that names a Node built-in fails the test.
test('the main entry bundles for the browser with no Node built-in', async () => {
  let res: BuildResult<{ write: false; metafile: true }> | undefined;
  let builtinsFound: string[] = [];
  try {
    res = await build({
      entryPoints: [path.join(here, 'fixtures', 'app.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      logLimit: 0,
    });
  } catch (e) {
    const errors = (e as BuildFailure).errors ?? [];
    builtinsFound = errors
      .map((m) => ({ m, spec: /Could not resolve "([^"]+)"/.exec(m.text)?.[1] }))
      .filter(({ spec }) => spec !== undefined && BUILTINS.has(spec))
      .map(({ m, spec }) => `${m.location?.file ?? '?'} imports '${spec}'`);
    const other = errors.filter((m) => !builtinsFound.some((b) => b.startsWith(`${m.location?.file ?? '?'} imports '${/"([^"]+)"/.exec(m.text)?.[1]}'`)));
    if (other.length) throw new Error(`esbuild failed:\n${other.map((m) => `${m.location?.file}: ${m.text}`).join("\n")}`, { cause: e });
  }
  expect(builtinsFound.sort(), `Node built-ins in the browser bundle:\n${builtinsFound.join('\n')}`).toEqual([]);
  const inputs = Object.keys(res!.metafile.inputs);
  // it really bundled the library and tfjs (not an empty shell)
  expect(inputs.some((f) => f.endsWith('src/defense/pcl.ts'))).toBe(true);
  expect(inputs.some((f) => f.includes('@tensorflow/tfjs-backend-wasm'))).toBe(true);
  const js = res!.outputFiles.map((f) => f.text).join('\n');
  expect(js).not.toMatch(/from\s*["']node:|require\(["']node:/);
}, 120_000);
