import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  // Cleans dist/ before each build; the build script compiles the addon into it afterwards.
  clean: true,
  target: 'node20',
  // import.meta.url in the CommonJS build, for createRequire (loading the addon).
  shims: true,
});
