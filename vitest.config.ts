import { defineConfig } from 'vitest/config';

// One Vitest config per package; the root only lists them so `vitest` at the top runs every project.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
});
