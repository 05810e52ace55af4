import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { CommanderError } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { parseAugment } from '../../src/cli/commands/train.js';
import { initEngine, tf } from '../../src/engine/backend.js';
import { loadClassifier } from '../../src/models/io.js';
import { loadDataset, disposeDataset } from '../../src/data/index.js';
import { evaluateAccuracy } from '../../src/models/train.js';

let dir: string;
beforeAll(async () => {
  await initEngine();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-cli-train-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Runs `pcl ARGS` in-process; returns what it wrote to stdout. */
async function pcl(args: string[]): Promise<string> {
  const program = buildProgram();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'pcl', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('pcl train', () => {
  test('smoke: 2,000 MNIST images, 1 epoch → a saved, loadable model well above chance', async () => {
    const out = path.join(dir, 'mnist-mlp');
    const stdout = await pcl([
      'train', '--dataset', 'mnist', '--arch', 'mnist-mlp', '--out', out, '--epochs', '1', '--limit', '2000', '--seed', '3',
    ]);
    const printed = JSON.parse(stdout.trim());
    expect(printed.out).toBe(out);
    expect(printed.testAccuracy).toBeGreaterThan(0.75); // chance is 0.10
    const { model, metrics } = await loadClassifier(out);
    expect(metrics).toMatchObject({
      epochs: 1, arch: 'mnist-mlp', width: 1, optimizer: 'adam', lr: 0.001, batchSize: 128, seed: 3,
      dataset: 'mnist', backend: 'wasm', trainSamples: 2000, testSamples: 10000,
    });
    expect(metrics.seconds).toBeGreaterThan(0);
    expect(metrics.testAccuracy).toBe(printed.testAccuracy);
    // the recorded accuracy is the saved model's real test accuracy
    const te = await loadDataset('mnist', { split: 'test', limit: 2000, seed: 0 });
    const acc = evaluateAccuracy(model, te.x, te.y);
    expect(Math.abs(acc - metrics.testAccuracy)).toBeLessThan(0.03);
    disposeDataset(te);
    model.dispose();
    // the file:// URL the contract names works too
    const viaUrl = await tf.loadLayersModel(`file://${out}/model.json`);
    expect(viaUrl.layers.map((l) => l.name)).toEqual(['input', 'flatten', 'fc1', 'fc2', 'fc3']);
    viaUrl.dispose();
  });

  test('--help lists the contract options', async () => {
    const program = buildProgram();
    const cmd = program.commands.find((c) => c.name() === 'train')!;
    const help = cmd.helpInformation();
    for (const opt of ['--dataset <spec>', '--arch <name>', '--width <x>', '--out <dir>', '--epochs <n>', '--batch-size <n>', '--lr <x>', '--seed <n>']) {
      expect(help).toContain(opt);
    }
    expect(help.replace(/\s+/g, ' ')).toContain('(choices: "mnist-mlp", "cifar-cnn", "imagenet-alexnet")');
    for (const opt of ['--lr-schedule <name>', '--augment <list>', '--batch-norm', '--no-batch-norm', 'imagefolder:DIR']) expect(help).toContain(opt);
    expect(help).not.toContain('--limit');
    expect(help).not.toContain('--max-batches');
  });

  test('bad input fails with a one-line reason and writes nothing', async () => {
    await expect(pcl(['train', '--dataset', 'mnist', '--arch', 'vgg', '--out', path.join(dir, 'x')])).rejects.toThrow(CommanderError);
    await expect(pcl(['train', '--dataset', 'mnist', '--arch', 'mnist-mlp'])).rejects.toThrow(/required option '--out <dir>'/);
    await expect(pcl(['train', '--dataset', 'mnist', '--arch', 'mnist-mlp', '--out', path.join(dir, 'x'), '--epochs', '0'])).rejects.toThrow(
      /--epochs: expected a positive integer, got '0'/,
    );
    await expect(pcl(['train', '--dataset', 'svhn:/nope', '--arch', 'mnist-mlp', '--out', path.join(dir, 'x')])).rejects.toThrow(
      /unknown spec 'svhn:\/nope'/,
    );
    await expect(pcl(['train', '--dataset', `cifar10:${dir}/none`, '--arch', 'cifar-cnn', '--out', path.join(dir, 'x')])).rejects.toThrow(
      /data_batch_1\.bin: no such file/,
    );
    expect((await fs.readdir(dir)).filter((f) => f !== 'folder' && f !== 'bn-model')).toEqual(['mnist-mlp']);
  });

  test('imagefolder:DIR with --batch-norm and a crop: trains, records the recipe, saves a BN model', async () => {
    const { PNG } = await import('pngjs');
    const data = path.join(dir, 'folder');
    // two classes of 8×8 images: dark vs bright, with a per-image pattern (6 epochs: BN's moving statistics need ≈ 25 steps to settle)
    for (const [cls, base] of [['dark', 30], ['bright', 200]] as const) {
      for (const [split, count] of [['train', 24], ['val', 6]] as const) {
        for (let i = 0; i < count; i++) {
          const png = new PNG({ width: 8, height: 8 });
          for (let p = 0; p < 64; p++) png.data.set([base + ((p * 7 + i) % 20), base, base + (i % 5), 255], 4 * p);
          await fs.mkdir(path.join(data, split, cls), { recursive: true });
          await fs.writeFile(path.join(data, split, cls, `${i}.png`), PNG.sync.write(png));
        }
      }
    }
    const out = path.join(dir, 'bn-model');
    const printed = await pcl([
      'train', '--dataset', `imagefolder:${data}`, '--arch', 'cifar-cnn', '--width', '0.02', '--batch-norm', '--augment', 'flip,crop:1',
      '--epochs', '6', '--batch-size', '8', '--lr', '0.01', '--lr-schedule', 'cosine', '--out', out,
    ]);
    const summary = JSON.parse(printed) as Record<string, unknown>;
    expect(summary).toMatchObject({ arch: 'cifar-cnn', batchNorm: true, augment: { flip: true, crop: 1 }, lrSchedule: 'cosine', trainSamples: 48, testSamples: 12 });
    expect(summary.testAccuracy).toBeGreaterThanOrEqual(0.75);
    const { model, metrics } = await loadClassifier(out);
    expect(metrics.classNames).toEqual(['bright', 'dark']);
    expect(model.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.name)).toEqual(['conv1_bn', 'conv2_bn', 'conv3_bn']);
    model.dispose();
    // a damaged image stops the run with its name (--no-batch-norm parses)
    await fs.writeFile(path.join(data, 'val', 'dark', '3.png'), 'broken');
    await expect(
      pcl(['train', '--dataset', `imagefolder:${data}`, '--arch', 'cifar-cnn', '--width', '0.02', '--no-batch-norm', '--epochs', '1', '--out', path.join(dir, 'y')]),
    ).rejects.toThrow(/val\/dark\/3\.png: neither a JPEG nor a PNG/);
  });

  test('parseAugment', () => {
    expect(parseAugment('none')).toEqual({});
    expect(parseAugment('flip')).toEqual({ flip: true });
    expect(parseAugment('flip,crop:2')).toEqual({ flip: true, crop: 2 });
    expect(parseAugment('crop')).toEqual({ crop: 4 });
    expect(() => parseAugment('rotate')).toThrow(/--augment: expected 'none' or a list of flip, crop\[:PIXELS\], got 'rotate'/);
  });
});
