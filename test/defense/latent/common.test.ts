import { describe, expect, test } from 'vitest';
import { sortedPerClass } from '../../../src/defense/latent/common.js';

describe('sortedPerClass', () => {
  test('groups kept rows by class, sorted ascending', () => {
    const scores = [5, 1, 4, 2, 3, 0];
    const classes = [0, 0, 1, 1, 0, 1];
    const keep = [1, 1, 1, 1, 0, 1];
    expect(sortedPerClass(scores, classes, 2, keep).map((a) => Array.from(a))).toEqual([[1, 5], [0, 2, 4]]);
    expect(sortedPerClass(scores, classes, 2).map((a) => Array.from(a))).toEqual([[1, 3, 5], [0, 2, 4]]);
  });

  test('a class with fewer than 2 kept rows (a victim that hardly gets it right) falls back to all its rows', () => {
    // class 1: one kept row; class 2: none; class 0: two kept rows stay as they are
    const scores = [1, 2, 9, 7, 8, 6, 5];
    const classes = [0, 0, 0, 1, 1, 2, 2];
    const keep = [1, 1, 0, 1, 0, 0, 0];
    const g = sortedPerClass(scores, classes, 4, keep).map((a) => Array.from(a));
    expect(g).toEqual([[1, 2], [7, 8], [5, 6], []]);
  });
});
