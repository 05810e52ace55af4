import { describe, test, expect } from 'vitest';
import { confusionMatrix, normalizeRows, summarizeConfusion, REJECTED_LABEL } from '../../src/eval/confusion.js';
import { ArgumentError, ShapeError } from '../../src/errors.js';

describe('adversarial confusion matrix', () => {
  const y = [0, 0, 1, 1, 2, 2];
  const pred = [1, 0, 2, 2, 0, 1];
  const flags = Uint8Array.from([1, 0, 0, 1, 0, 0]);

  test('without PCL: true × predicted counts', () => {
    const m = confusionMatrix(y, pred, 3);
    expect(m.counts).toEqual([
      [1, 1, 0],
      [0, 0, 2],
      [1, 1, 0],
    ]);
    expect(m.colLabels).toEqual(['0', '1', '2']);
    expect(m.withRejection).toBe(false);
    expect(summarizeConfusion(m)).toEqual({ correct: 1 / 6, fooled: 5 / 6, rejected: 0 });
  });

  test('with PCL: flagged samples move to the rejected column', () => {
    const m = confusionMatrix(y, pred, 3, flags, ['zero', 'one', 'two']);
    expect(m.counts).toEqual([
      [1, 0, 0, 1],
      [0, 0, 1, 1],
      [1, 1, 0, 0],
    ]);
    expect(m.rowLabels).toEqual(['zero', 'one', 'two']);
    expect(m.colLabels).toEqual(['zero', 'one', 'two', REJECTED_LABEL]);
    expect(m.total).toBe(6);
    expect(summarizeConfusion(m)).toEqual({ correct: 1 / 6, fooled: 3 / 6, rejected: 2 / 6 });
    expect(normalizeRows(m)[0]).toEqual([0.5, 0, 0, 0.5]);
    expect(normalizeRows(confusionMatrix([], [], 2))).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  test('rejects labels out of range and mismatched lengths', () => {
    expect(() => confusionMatrix([0, 3], [0, 0], 3)).toThrow(ArgumentError);
    expect(() => confusionMatrix([0, 3], [0, 0], 3)).toThrow(/'trueLabels\[1\]' to be an integer class in \[0, 3\), got 3/);
    expect(() => confusionMatrix([0], [0.5], 3)).toThrow(/'predLabels\[0\]'/);
    expect(() => confusionMatrix([0, 1], [0], 3)).toThrow(ShapeError);
    expect(() => confusionMatrix([0], [0], 3, [1, 1])).toThrow(/'flags' to have length 1, got 2/);
    expect(() => confusionMatrix([0], [0], 0)).toThrow(/'numClasses' to be a positive integer, got 0/);
  });
});
