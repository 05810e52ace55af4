import { describe, expect, test } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { attackPlansFor, QUICK_WIDTH, reproducePlan, selectReproduceAttacks } from '../../src/pipeline/reproduce.js';

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

  test('--attacks selects members of the default set; unknown names and empty selections are refused', () => {
    const plan = reproducePlan('imagenet10:d', false);
    const names = (sel?: string[]) => selectReproduceAttacks(plan, 'imagenet10:d', false, sel).map((p) => p.group);
    // default: the paper's ImageNet set, then the beyond-the-boundary rows
    const all = names();
    expect(all.slice(0, 4)).toEqual(['FGSM', 'FGSM', 'DeepFool', 'C&W L2']);
    expect(all.some((g) => g.startsWith('PGD L∞'))).toBe(true);
    expect(names(['deepfool', 'cw-l2'])).toEqual(['DeepFool', 'C&W L2']);
    expect(names(['paper'])).toEqual(['FGSM', 'FGSM', 'DeepFool', 'C&W L2']);
    expect(names(['highconf']).every((g) => g.startsWith('C&W L2 κ=') || g.startsWith('PGD'))).toBe(true);
    expect(names(['pgd']).every((g) => g.startsWith('PGD'))).toBe(true);
    expect(names(['pgd']).length).toBe(5);
    expect(names(['cw-high'])).toEqual(['C&W L2 κ=5', 'C&W L2 κ=10', 'C&W L2 κ=20', 'C&W L2 κ=40']);
    expect(() => names(['jsma'])).toThrow(/selects no attack on imagenet10:d/);
    expect(() => names(['cw'])).toThrow(/unknown 'cw'; expected some of paper, fgsm, jsma, deepfool, cw-l2, highconf, cw-high, pgd/);
    // a C&W schedule given to the plan reaches every C&W row
    const cw = selectReproduceAttacks({ ...plan, cw: { binarySteps: 4, iterations: 50 } }, 'imagenet10:d', false, ['cw-l2', 'highconf'])
      .filter((p) => p.name === 'cw-l2')
      .map((p) => `${p.params.binarySteps}x${p.params.iterations}`);
    expect(cw.length).toBe(5);
    expect(new Set(cw)).toEqual(new Set(['4x50']));
  });
});
