import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import { accuracy, blobs, tinyVictim } from './fixtures.js';

beforeAll(async () => {
  await initEngine();
});

describe('fixtures', () => {
  test('the tiny victim separates the blobs', async () => {
    const v = await tinyVictim(0);
    const b = blobs(200, 5);
    expect(accuracy(v, b)).toBeGreaterThan(0.97);
    tf.dispose([b.x, b.y]);
    v.model.dispose();
  });
});
