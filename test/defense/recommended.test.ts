import { describe, expect, test } from 'vitest';
import { recommendedCheckpoints, recommendedInputParams } from '../../src/defense/recommended.js';
import { validateInputParams, INPUT_DEFAULTS } from '../../src/defense/input/params.js';

describe('recommended defender settings', () => {
  test('MNIST-like images: overlapping patches every 2 pixels and 10 atoms; colour images: the paper', () => {
    expect(recommendedInputParams([28, 28, 1])).toEqual({ stride: 2, nNonzero: 10 });
    expect(recommendedInputParams([32, 32, 1])).toEqual({ stride: 2, nNonzero: 10 });
    expect(recommendedInputParams([64, 64, 1])).toEqual({});
    expect(recommendedInputParams([32, 32, 3])).toEqual({});
    expect(recommendedInputParams([64, 64, 3])).toEqual({});
    // the recommendation is a valid parameter set (10 ≤ the default 225 atoms; stride 2 ≤ the patch side)
    expect(() => validateInputParams({ ...INPUT_DEFAULTS, ...recommendedInputParams([28, 28, 1]) })).not.toThrow();
  });

  test('checkpoints: the last two hidden dense layers of an MLP on grayscale images, else the second-to-last layer', () => {
    const mlp = ['flatten', 'fc1', 'fc2', 'logits'];
    expect(recommendedCheckpoints(mlp, [28, 28, 1])).toEqual(['fc1', 'fc2']);
    expect(recommendedCheckpoints(mlp, [32, 32, 3])).toEqual(['fc2']);
    const cnn = ['conv1', 'pool1', 'conv2', 'flatten', 'fc1', 'fc2', 'logits'];
    expect(recommendedCheckpoints(cnn, [32, 32, 3])).toEqual(['fc2']);
    // no dense layer before the main checkpoint: that one alone
    expect(recommendedCheckpoints(['flatten', 'hidden', 'logits'], [28, 28, 1])).toEqual(['hidden']);
    expect(recommendedCheckpoints(['logits'], [28, 28, 1])).toEqual([]);
  });
});
