/**
 * `pnpm bench`: seal throughput of the addon against node:crypto's createCipheriv in the same run, for
 * both ciphers at datagram, frame and record sizes (best of 5 rounds of 300 ms each).
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { loadNative, type NativeCipher, nativeUnavailableReason } from '../src/index.js';

const native = loadNative();
if (native === null) {
  console.log(`@antt/native bench: addon unavailable (${nativeUnavailableReason()}); nothing to compare`);
  process.exit(0);
}
const ROUND_MS = 300;
const CIPHERS: [NativeCipher, 'aes-256-gcm' | 'chacha20-poly1305'][] = [
  [0, 'aes-256-gcm'],
  [1, 'chacha20-poly1305'],
];

function bestRate(run: () => void): number {
  let best = 0;
  for (let round = 0; round < 5; round++) {
    let count = 0;
    const started = performance.now();
    while (performance.now() - started < ROUND_MS) {
      for (let i = 0; i < 10; i++) run();
      count += 10;
    }
    best = Math.max(best, count / ((performance.now() - started) / 1000));
  }
  return best;
}

console.log(`@antt/native bench — node ${process.version}, seal only, best of 5 × ${ROUND_MS} ms\n`);
console.log('| message | cipher | addon µs | addon GB/s | node:crypto µs | node:crypto GB/s | ratio |');
console.log('|---|---|---|---|---|---|---|');
for (const bytes of [1200, 65536, 1048576]) {
  const plaintext = randomBytes(bytes);
  const out = Buffer.alloc(bytes + 16);
  const aad = randomBytes(18);
  const nonce = randomBytes(12);
  for (const [which, algorithm] of CIPHERS) {
    const key = randomBytes(32);
    const handle = native.createAead(which, key, true);
    const mine = bestRate(() => native.seal(handle, nonce, aad, plaintext, out, 0));
    const theirs = bestRate(() => {
      const cipher = createCipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
      cipher.setAAD(aad);
      cipher.update(plaintext);
      cipher.final();
      cipher.getAuthTag();
    });
    const cells = [mine, theirs].flatMap((rate) => [
      (1e6 / rate).toFixed(2),
      ((rate * bytes) / 1e9).toFixed(2),
    ]);
    console.log(`| ${bytes} B | ${algorithm} | ${cells.join(' | ')} | ${(mine / theirs).toFixed(2)}x |`);
  }
}
