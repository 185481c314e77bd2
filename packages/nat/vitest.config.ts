import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'nat',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
