import { describe, expect, test } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { attackPlansFor, QUICK_WIDTH, reproducePlan } from '../../src/pipeline/reproduce.js';

const summary = (dataset: string, quick: boolean) =>
  attackPlansFor(reproducePlan(dataset, quick), quick).map((p) => `${p.name} ${JSON.stringify(p.params)}`);

describe('reproducePlan', () => {
  test("ImageNet-10 runs the paper's ImageNet attacks: FGS ε 0.01 and 0.05, DeepFool, C&W; no JSMA", () => {
    const full = summary('imagenet10:d', false);
    expect(full.filter((s) => s.startsWith('fgsm'))).toEqual(['fgsm {"eps":0.01}', 'fgsm {"eps":0.05}']);
    expect(full.some((s) => s.startsWith('jsma'))).toBe(false);
    expect(full.some((s) => s.startsWith('deepfool'))).toBe(true);
    expect(full.find((s) => s.startsWith('cw-l2'))).toContain('"binarySteps":10,"iterations":200');
    const plan = reproducePlan('imagenet10:d', false);
    expect(plan).toMatchObject({ arch: 'imagenet-alexnet', width: 1, n: 1000, train: { batchNorm: true, augment: { flip: true, crop: 4 } } });
    // CIFAR-10 keeps JSMA and the six FGS budgets
    const cifar = summary('cifar10:d', false);
    expect(cifar.filter((s) => s.startsWith('fgsm')).length).toBe(6);
    expect(cifar.some((s) => s.startsWith('jsma'))).toBe(true);
  });

  test('--quick on the CNN datasets: a narrow victim on a subset, one checkpoint, small budgets', () => {
    for (const [ds, arch] of [['cifar10:d', 'cifar-cnn'], ['imagenet10:d', 'imagenet-alexnet']] as const) {
      const q = reproducePlan(ds, true);
      expect(q).toMatchObject({ arch, width: QUICK_WIDTH, epochs: 2, oneCheckpoint: true, n: 60, fitLimit: 3000, cw: { binarySteps: 3, iterations: 30 } });
      expect(q.train?.limit).toBeLessThanOrEqual(5000);
      expect(q.train?.testLimit).toBe(1000);
    }
    // MNIST's quick plan is unchanged: the MLP, 300 test images, two checkpoints
    expect(reproducePlan('mnist', true)).toMatchObject({ arch: 'mnist-mlp', n: 300 });
    expect(reproducePlan('mnist', true).oneCheckpoint).toBeUndefined();
  });

  test('a dataset without a plan is refused by name', () => {
    expect(() => reproducePlan('imagefolder:x', false)).toThrow(ArgumentError);
    expect(() => reproducePlan('imagefolder:x', false)).toThrow(/--dataset must be mnist, idx:DIR, cifar10:DIR or imagenet10:DIR, got 'imagefolder:x'/);
  });
});
