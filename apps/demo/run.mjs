#!/usr/bin/env node
// What the root `pnpm demo` runs: builds @antt/demo and the packages it uses (turbo caches, so this is
// quick after the first time), then starts it with the arguments given. Build output is shown only
// when the build fails.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const localTurbo = fileURLToPath(new URL('../../node_modules/.bin/turbo', import.meta.url));
const turbo = existsSync(localTurbo) ? localTurbo : 'turbo';
const startedAt = performance.now();
process.stderr.write('building @antt/demo and the packages it uses ... ');
const build = spawnSync(turbo, ['run', 'build', '--filter=@antt/demo...', '--output-logs=errors-only'], {
  cwd: root,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
});
if (build.error || build.status !== 0) {
  process.stderr.write('failed\n');
  if (build.error)
    process.stderr.write(`could not run turbo (${build.error.message}); run pnpm install first\n`);
  else process.stderr.write(`${build.stdout}${build.stderr}`);
  process.exit(1);
}
process.stderr.write(`done in ${((performance.now() - startedAt) / 1000).toFixed(1)} s\n\n`);
await import('./dist/main.js');
