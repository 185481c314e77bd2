/**
 * Sealing throughput: seal + open of 1200-byte datagrams and 64 KiB frames with both AEADs, next to a
 * bare node:crypto reference (one createCipheriv/createDecipheriv per message, nothing else) measured in
 * the same run, so the ratio shows what SealingKey/OpeningKey add. Also times full handshakes.
 *
 * Cases alternate in ROUNDS short rounds and each reports its best round, so a busy machine (other
 * builds, other tests) disturbs the comparison less.
 *
 *     pnpm bench            (ANTT_BENCH_MS=300 per round by default)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Identity, OpeningKey, SealingKey, SecureHandshake } from '../src/index.js';

const ROUND_MS = Number(process.env.ANTT_BENCH_MS ?? 300);
const ROUNDS = 5;
const SIZES = [
  { name: '1200 B datagram', bytes: 1200 },
  { name: '64 KiB frame', bytes: 65536 },
];
const CIPHERS = [
  { noise: 'ChaChaPoly', node: 'chacha20-poly1305' },
  { noise: 'AESGCM', node: 'aes-256-gcm' },
] as const;
const HEADER = randomBytes(12);

/** Runs `run` for one round; returns iterations per second. `next` keeps counters across rounds. */
function round(run: (iteration: number) => void, next: { value: number }): number {
  const first = next.value;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ROUND_MS) {
    for (let i = 0; i < 50; i++) run(next.value++);
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

function reference(algorithm: string, bytes: number): (iteration: number) => void {
  const key = randomBytes(32);
  const plaintext = randomBytes(bytes);
  const nonce = Buffer.alloc(12);
  return (i) => {
    nonce.writeUInt32BE(i, 8);
    const c = createCipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
    c.setAAD(HEADER, { plaintextLength: bytes });
    const body = c.update(plaintext);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
    d.setAAD(HEADER, { plaintextLength: bytes });
    d.setAuthTag(tag);
    d.update(body);
    d.final();
  };
}

function ours(cipher: 'ChaChaPoly' | 'AESGCM', bytes: number): (iteration: number) => void {
  const secret = randomBytes(32);
  const send = new SealingKey(cipher, secret);
  const receive = new OpeningKey(cipher, secret);
  const plaintext = randomBytes(bytes);
  return (i) => {
    const sealed = send.seal(i, HEADER, plaintext);
    if (receive.open(i, HEADER, sealed) === null) throw new Error('open failed');
  };
}

const mbps = (perSecond: number, bytes: number) => (perSecond * bytes) / 1e6;

console.log(
  `@antt/secure bench — node ${process.version}, best of ${ROUNDS} × ${ROUND_MS} ms, seal + open per message\n`,
);
const results: Record<string, number> = {};
for (const size of SIZES) {
  for (const cipher of CIPHERS) {
    const [mineRate, baseRate] = compare([
      ours(cipher.noise, size.bytes),
      reference(cipher.node, size.bytes),
    ]);
    const base = mbps(baseRate!, size.bytes);
    const mine = mbps(mineRate!, size.bytes);
    results[`${cipher.noise} ${size.bytes}`] = mine;
    console.log(
      `${size.name.padEnd(16)} ${cipher.node.padEnd(18)} ${mine.toFixed(0).padStart(6)} MB/s` +
        `   bare node:crypto ${base.toFixed(0).padStart(6)} MB/s   ratio ${(mine / base).toFixed(2)}`,
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

const chacha = (results['ChaChaPoly 1200'] ?? 0) + (results['ChaChaPoly 65536'] ?? 0);
const aes = (results['AESGCM 1200'] ?? 0) + (results['AESGCM 65536'] ?? 0);
console.log(
  `faster on this machine: ${chacha >= aes ? 'ChaChaPoly (chacha20-poly1305)' : 'AESGCM (aes-256-gcm)'}`,
);
