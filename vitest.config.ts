import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          pool: 'forks',
          setupFiles: ['test/setup-node.ts'],
        },
      },
      {
        test: {
          name: 'slow',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 3_600_000,
          pool: 'forks',
          setupFiles: ['test/setup-node.ts'],
        },
      },
    ],
  },
});
