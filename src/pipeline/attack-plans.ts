import type { AttackName } from '../attacks/index.js';

/** One attack configuration of an evaluation; several may share a table row (`group`). */
export interface AttackPlan {
  name: AttackName;
  params: Record<string, unknown>;
  /** Table row it is pooled into, e.g. 'FGSM' (the paper pools its Table 3 parameters). */
  group: string;
  /** Short label, e.g. 'ε=0.1'. */
  label: string;
}

/**
 * The paper's attack schedule (PCL-METHOD §5, Table 3). `quick` keeps each attack but cuts its
 * budget (fewer FGSM ε, C&W 5×100 instead of 20×500) so the whole pipeline runs in minutes.
 */
export function paperAttackPlans(quick = false, cw?: { binarySteps: number; iterations: number }): AttackPlan[] {
  const eps = quick ? [0.1, 0.2, 0.3] : [0.05, 0.1, 0.2, 0.3, 0.4, 0.5];
  const cwPlan = (binarySteps: number, iterations: number): AttackPlan => ({
    name: 'cw-l2',
    params: { confidence: 0, binarySteps, iterations, lr: 0.1 },
    group: 'C&W L2',
    label: `κ=0, ${binarySteps}×${iterations}`,
  });
  return [
    ...eps.map((e) => ({ name: 'fgsm' as const, params: { eps: e }, group: 'FGSM', label: `ε=${e}` })),
    { name: 'jsma', params: { theta: 1, gamma: 0.05 }, group: 'JSMA', label: 'θ=1, γ=5%' },
    { name: 'deepfool', params: { maxIter: 50, overshoot: 0.02 }, group: 'DeepFool', label: 'maxIter=50' },
    cw ? cwPlan(cw.binarySteps, cw.iterations) : quick ? cwPlan(5, 100) : cwPlan(20, 500),
  ];
}
