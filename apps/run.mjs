#!/usr/bin/env node
// What the root `pnpm chat`, `pnpm shell` and `pnpm demo` run: `node apps/run.mjs <app> [args...]` builds
// @antt/<app> and the packages it uses (turbo caches, so this is quick after the first time), then starts
// it with the remaining arguments. Build output is shown only when the build fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const app = process.argv[2];
const appDir =
  app && /^[a-z-]+$/.test(app) ? fileURLToPath(new URL(`./${app}/`, import.meta.url)) : undefined;
if (!appDir || !existsSync(`${appDir}package.json`)) {
  process.stderr.write(`usage: node apps/run.mjs <app> [args...]; "${app ?? ''}" is not an app in apps/\n`);
  process.exit(2);
}
// The app parses process.argv.slice(2): drop the app name so it sees only its own arguments.
process.argv.splice(2, 1);

const root = fileURLToPath(new URL('..', import.meta.url));
const localTurbo = fileURLToPath(new URL('../node_modules/.bin/turbo', import.meta.url));
const turbo = existsSync(localTurbo) ? localTurbo : 'turbo';
const startedAt = performance.now();
process.stderr.write(`building @antt/${app} and the packages it uses ... `);
const build = spawnSync(turbo, ['run', 'build', `--filter=@antt/${app}...`, '--output-logs=errors-only'], {
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
await import(pathToFileURL(`${appDir}dist/main.js`).href);
