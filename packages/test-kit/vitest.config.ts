import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'test-kit',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // CI machines have 2 cores shared by every package's tests: budgets are for hangs, not for speed.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
