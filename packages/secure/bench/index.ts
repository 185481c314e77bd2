/**
 * Sealing throughput: seal + open of 1200-byte datagrams, 64 KiB frames and 1 MiB records (the TCP
 * transport's largest) with both AEADs and every backend (the @antt/native addon, libsodium through
 * sodium-native, node:crypto),
 * next to bare library calls measured in the same run, so the ratios show what SealingKey/OpeningKey
 * add and what each backend costs. Keys are used as the transports use them: sealInto/openInto into
 * buffers that are reused (nothing allocated per message on the addon or libsodium). Also times full handshakes.
 *
 * Cases alternate in ROUNDS short rounds and each reports its best round, so a busy machine (other
 * builds, other tests) disturbs the comparison less.
 *
 *     pnpm bench            (ANTT_BENCH_MS=300 per round by default)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type AeadBackendChoice, nativeAead, setAeadBackend, sodiumAead } from '../src/aead-backend.js';
import { defaultCipher, Identity, OpeningKey, SealingKey, SecureHandshake } from '../src/index.js';

const ROUND_MS = Number(process.env.ANTT_BENCH_MS ?? 300);
const ROUNDS = 5;
const TAG_BYTES = 16;
const SIZES = [
  { name: '1200 B datagram', bytes: 1200 },
  { name: '64 KiB frame', bytes: 65536 },
  { name: '1 MiB record', bytes: 1048576 },
];
const HEADER = randomBytes(18);

/** Runs `run` for one round; returns iterations per second. `next` keeps counters across rounds. */
function round(run: (iteration: number) => void, next: { value: number }): number {
  const first = next.value;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ROUND_MS) {
    for (let i = 0; i < 10; i++) run(next.value++);
    elapsed = performance.now() - started;
  }
  return (next.value - first) / (elapsed / 1000);
}

/** Best-of-ROUNDS rates for several cases, measured in alternation. */
function compare(cases: ((iteration: number) => void)[]): number[] {
  const counters = cases.map(() => ({ value: 0 }));
  const best = cases.map(() => 0);
  for (const [index, run] of cases.entries()) round(run, counters[index]!); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [index, run] of cases.entries())
      best[index] = Math.max(best[index]!, round(run, counters[index]!));
  }
  return best;
}

/** One createCipheriv + createDecipheriv per message, nothing else. */
function bareNode(algorithm: 'chacha20-poly1305' | 'aes-256-gcm', bytes: number): (i: number) => void {
  const key = randomBytes(32);
  const plaintext = randomBytes(bytes);
  const nonce = Buffer.alloc(12);
  return (i) => {
    nonce.writeUInt32BE(i, 8);
    const c = createCipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(HEADER, { plaintextLength: bytes });
    const body = c.update(plaintext);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(HEADER, { plaintextLength: bytes });
    d.setAuthTag(tag);
    d.update(body);
    d.final();
  };
}

/** One libsodium encrypt + decrypt per message into reused buffers, nothing else. */
function bareSodium(bytes: number): (i: number) => void {
  const sodium = sodiumAead()!;
  const key = randomBytes(32);
  const plaintext = randomBytes(bytes);
  const sealed = Buffer.alloc(bytes + TAG_BYTES);
  const opened = Buffer.alloc(bytes);
  const nonce = Buffer.alloc(12);
  return (i) => {
    nonce.writeUInt32BE(i, 8);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(sealed, plaintext, HEADER, null, nonce, key);
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(opened, null, sealed, HEADER, nonce, key);
  };
}

/** One addon seal + open per message into reused buffers, nothing else. */
function bareNative(cipher: 0 | 1, bytes: number): (i: number) => void {
  const native = nativeAead()!;
  const key = randomBytes(32);
  const sealer = native.createAead(cipher, key, true);
  const opener = native.createAead(cipher, key, false);
  const plaintext = randomBytes(bytes);
  const sealed = Buffer.alloc(bytes + TAG_BYTES);
  const opened = Buffer.alloc(bytes);
  const nonce = Buffer.alloc(12);
  return (i) => {
    nonce.writeUInt32BE(i, 8);
    native.seal(sealer, nonce, HEADER, plaintext, sealed, 0);
    if (native.open(opener, nonce, HEADER, sealed, opened, 0) < 0) throw new Error('open failed');
  };
}

/** SealingKey.sealInto + OpeningKey.openInto, created on `backend`. */
function ours(cipher: 'ChaChaPoly' | 'AESGCM', backend: AeadBackendChoice, bytes: number) {
  setAeadBackend(backend);
  const secret = randomBytes(32);
  const send = new SealingKey(cipher, secret);
  const receive = new OpeningKey(cipher, secret);
  setAeadBackend('auto');
  const plaintext = randomBytes(bytes);
  const sealed = Buffer.alloc(bytes + TAG_BYTES);
  const opened = Buffer.alloc(bytes);
  const run = (i: number) => {
    send.sealInto(i, HEADER, plaintext, sealed, 0);
    if (receive.openInto(i, HEADER, sealed, opened, 0) < 0) throw new Error('open failed');
  };
  return { run, backend: send.backend };
}

const mbps = (perSecond: number, bytes: number) => (perSecond * bytes) / 1e6;

console.log(
  `@antt/secure bench — node ${process.version}, best of ${ROUNDS} × ${ROUND_MS} ms, seal + open per message` +
    `\n@antt/native ${nativeAead() ? 'loaded' : 'NOT built: addon rows skipped'}` +
    `\nsodium-native ${sodiumAead() ? 'loaded' : 'NOT available: libsodium rows skipped'}\n`,
);
console.log('| message | cipher | backend | MB/s | µs per seal+open | bare library MB/s | ratio to bare |');
console.log('|---|---|---|---|---|---|---|');
for (const size of SIZES) {
  const rows: { cipher: string; run: (i: number) => void; backend: string; bare: (i: number) => void }[] = [];
  if (nativeAead()) {
    for (const [cipher, id] of [
      ['AESGCM', 0],
      ['ChaChaPoly', 1],
    ] as const) {
      rows.push({ cipher, ...ours(cipher, 'auto', size.bytes), bare: bareNative(id, size.bytes) });
    }
  }
  if (sodiumAead()) {
    rows.push({
      cipher: 'ChaChaPoly',
      ...ours('ChaChaPoly', 'sodium-native', size.bytes),
      bare: bareSodium(size.bytes),
    });
  }
  rows.push({
    cipher: 'ChaChaPoly',
    ...ours('ChaChaPoly', 'node:crypto', size.bytes),
    bare: bareNode('chacha20-poly1305', size.bytes),
  });
  rows.push({
    cipher: 'AESGCM',
    ...ours('AESGCM', 'node:crypto', size.bytes),
    bare: bareNode('aes-256-gcm', size.bytes),
  });
  const rates = compare(rows.flatMap((row) => [row.run, row.bare]));
  for (const [index, row] of rows.entries()) {
    const mine = rates[2 * index]!;
    const bare = rates[2 * index + 1]!;
    console.log(
      `| ${size.name} | ${row.cipher} | ${row.backend} | ${mbps(mine, size.bytes).toFixed(0)} | ` +
        `${(1e6 / mine).toFixed(1)} | ${mbps(bare, size.bytes).toFixed(0)} | ${(mine / bare).toFixed(2)} |`,
    );
  }
}

const alice = Identity.generate();
const bob = Identity.generate();
const [handshakesPerSecond] = compare([
  () => {
    const i = new SecureHandshake({
      role: 'initiator',
      identity: alice,
      transport: 'udp',
      allowedPeers: [bob.peerId],
    });
    const r = new SecureHandshake({
      role: 'responder',
      identity: bob,
      transport: 'udp',
      allowedPeers: [alice.peerId],
    });
    r.readMessage(i.writeMessage());
    i.readMessage(r.writeMessage());
    r.readMessage(i.writeMessage());
    i.readMessage(r.writeMessage());
  },
]);
console.log(`\nfull XX handshake, both sides in one process: ${(1000 / handshakesPerSecond!).toFixed(2)} ms`);

console.log(`default cipher on this machine: ${defaultCipher()}`);
