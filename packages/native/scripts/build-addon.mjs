/**
 * Compiles src/antt_native.c into dist/antt_native.node with the system C compiler against the headers
 * of the Node running this script (<prefix>/include/node, which official and distribution builds ship;
 * OpenSSL's headers are among them). No node-gyp, no Python, no network.
 *
 * The addon is optional: when there is no compiler or no headers this prints why and exits 0, and the
 * packages using it fall back to node:crypto and dgram. ANTT_NATIVE_REQUIRED=1 (set by .ci/run) turns
 * that into a failure, so CI cannot lose the fast path unnoticed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'antt_native.c');
const output = join(root, 'dist', 'antt_native.node');
const candidates = [
  process.env.ANTT_NODE_HEADERS,
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const headers = candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
const compiler = process.env.CC || 'cc';
const required = process.env.ANTT_NATIVE_REQUIRED === '1';

function skip(reason) {
  const message = `@antt/native: addon not built (${reason}); Antt falls back to node:crypto and dgram`;
  if (required) {
    console.error(`${message}, but ANTT_NATIVE_REQUIRED=1`);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}

if (process.platform === 'win32') skip('Windows is not supported by this build script');
if (!headers) skip(`no node_api.h under ${candidates.join(', ')}; set ANTT_NODE_HEADERS`);
mkdirSync(dirname(output), { recursive: true });
const flags = ['-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-Wno-unused-parameter', '-std=gnu11'];
// Node's own symbols (Node-API and OpenSSL) resolve at load time from the running process.
const link = process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : [];
try {
  execFileSync(
    compiler,
    [...flags, '-DNODE_GYP_MODULE_NAME=antt_native', `-I${headers}`, source, '-o', output, ...link],
    { stdio: 'inherit' },
  );
} catch (error) {
  skip(`${compiler} failed: ${error.message}`);
}
console.log(`@antt/native: built ${output}`);
