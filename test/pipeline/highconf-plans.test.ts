import { describe, expect, test } from 'vitest';
import { makeAttack } from '../../src/attacks/registry.js';
import { beyondBoundaryPlans } from '../../src/pipeline/highconf-plans.js';

describe('beyondBoundaryPlans', () => {
  test('MNIST: C&W κ 5–40, PGD L∞ ε 0.05–0.3 (40 steps of 0.01, random start), PGD L2; one row each', () => {
    const plans = beyondBoundaryPlans('mnist');
    expect(plans.map((p) => p.group)).toEqual([
      'C&W L2 κ=5',
      'C&W L2 κ=10',
      'C&W L2 κ=20',
      'C&W L2 κ=40',
      'PGD L∞ ε=0.05',
      'PGD L∞ ε=0.1',
      'PGD L∞ ε=0.2',
      'PGD L∞ ε=0.3',
      'PGD L2 ε=2',
    ]);
    const pgd = plans.find((p) => p.group === 'PGD L∞ ε=0.1')!;
    expect(pgd.params).toEqual({ eps: 0.1, stepSize: 0.01, steps: 40, randomStart: true });
    expect(plans.find((p) => p.group === 'C&W L2 κ=20')!.params).toEqual({ confidence: 20, binarySteps: 20, iterations: 500, lr: 0.1 });
    // every plan builds (the registry checks each parameter name)
    for (const p of plans) expect(makeAttack(p.name, p.params).name).toBe(p.name);
  });

  test('CIFAR-10: ε in 255ths with a step of 2.5·ε/40', () => {
    const plans = beyondBoundaryPlans('cifar10:../shared/data/cifar10');
    const linf = plans.filter((p) => p.sweep.kind === 'pgd-linf-eps');
    expect(linf.map((p) => p.group)).toEqual(['PGD L∞ ε=2/255', 'PGD L∞ ε=4/255', 'PGD L∞ ε=8/255', 'PGD L∞ ε=16/255']);
    expect(linf[2].params.stepSize).toBeCloseTo((2.5 * 8) / 255 / 40, 12);
    expect(plans.find((p) => p.name === 'pgd-l2')!.params.eps).toBe(0.5);
  });

  test('quick keeps one short configuration per family', () => {
    const plans = beyondBoundaryPlans('mnist', true);
    expect(plans.map((p) => p.sweep.kind)).toEqual(['cw-confidence', 'pgd-linf-eps', 'pgd-l2-eps']);
    expect(plans[0].params).toMatchObject({ binarySteps: 5, iterations: 100 });
  });
});
