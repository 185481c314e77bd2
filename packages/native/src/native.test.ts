import { createCipheriv, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadNative,
  type NativeAddon,
  type NativeCipher,
  type NativeReceiverHandle,
  nativeUnavailableReason,
  RECEIVE_META_INTS,
  resumeDgramReading,
  stopDgramReading,
  udpSocketFd,
} from './index.js';

const native = loadNative();
const ALGORITHMS: [NativeCipher, 'aes-256-gcm' | 'chacha20-poly1305'][] = [
  [0, 'aes-256-gcm'],
  [1, 'chacha20-poly1305'],
];

function nodeSeal(algorithm: string, key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

it('loads here, and CI cannot lose it unnoticed', () => {
  // The fast paths are optional for users, but CI builds them: a broken build must fail a test.
  if (process.env.CI) expect(nativeUnavailableReason()).toBe('');
  if (native === null) expect(nativeUnavailableReason()).not.toBe('');
});

describe.skipIf(native === null)(
  'AEAD (skipped only when the addon could not be built: see the reason above)',
  () => {
    const addon = native as NativeAddon;

    it.each(ALGORITHMS)(
      'cipher %i seals byte for byte what node:crypto seals (%s), and opens it',
      (which, algorithm) => {
        const key = randomBytes(32);
        const sealer = addon.createAead(which, key, true);
        const opener = addon.createAead(which, key, false);
        for (const size of [0, 1, 15, 16, 17, 1200, 65536, 1048576 + 3]) {
          const nonce = randomBytes(12);
          const aad = randomBytes(size % 40);
          const plaintext = randomBytes(size);
          const out = Buffer.alloc(size + 16 + 5);
          expect(addon.seal(sealer, nonce, aad, plaintext, out, 5)).toBe(size + 16);
          expect(out.subarray(5).equals(nodeSeal(algorithm, key, nonce, aad, plaintext))).toBe(true);
          const back = Buffer.alloc(size);
          expect(addon.open(opener, nonce, aad, out.subarray(5), back, 0)).toBe(size);
          expect(back.equals(plaintext)).toBe(true);
        }
      },
    );

    it.each(ALGORITHMS)(
      'cipher %i rejects a flipped bit anywhere, a wrong nonce and a wrong aad',
      (which) => {
        const key = randomBytes(32);
        const sealer = addon.createAead(which, key, true);
        const opener = addon.createAead(which, key, false);
        const nonce = randomBytes(12);
        const aad = Buffer.from('header');
        const sealed = Buffer.alloc(116);
        addon.seal(sealer, nonce, aad, randomBytes(100), sealed, 0);
        const out = Buffer.alloc(100);
        for (const index of [0, 50, 99, 100, 115]) {
          const bad = Buffer.from(sealed);
          bad[index]! ^= 0x01;
          expect(addon.open(opener, nonce, aad, bad, out, 0)).toBe(-1);
        }
        const otherNonce = Buffer.from(nonce);
        otherNonce[11]! ^= 1;
        expect(addon.open(opener, otherNonce, aad, sealed, out, 0)).toBe(-1);
        expect(addon.open(opener, nonce, Buffer.from('headeR'), sealed, out, 0)).toBe(-1);
        expect(addon.open(opener, nonce, aad, sealed.subarray(0, 15), out, 0)).toBe(-1);
        // After failures the context still opens the genuine record.
        expect(addon.open(opener, nonce, aad, sealed, out, 0)).toBe(100);
      },
    );

    it('seals and opens in place', () => {
      const key = randomBytes(32);
      const plaintext = randomBytes(1200);
      const buffer = Buffer.alloc(1216);
      plaintext.copy(buffer);
      const nonce = randomBytes(12);
      addon.seal(addon.createAead(0, key, true), nonce, Buffer.alloc(0), buffer.subarray(0, 1200), buffer, 0);
      expect(buffer.equals(nodeSeal('aes-256-gcm', key, nonce, Buffer.alloc(0), plaintext))).toBe(true);
      expect(addon.open(addon.createAead(0, key, false), nonce, Buffer.alloc(0), buffer, buffer, 0)).toBe(
        1200,
      );
      expect(buffer.subarray(0, 1200).equals(plaintext)).toBe(true);
    });

    it('throws a clear error for misuse instead of touching memory it does not own', () => {
      const key = randomBytes(32);
      const sealer = addon.createAead(0, key, true);
      const nonce = randomBytes(12);
      expect(() => addon.createAead(0, randomBytes(31), true)).toThrow(/32-byte/);
      expect(() => addon.createAead(7 as NativeCipher, key, true)).toThrow(/cipher/);
      expect(() =>
        addon.seal(sealer, nonce, Buffer.alloc(0), Buffer.alloc(100), Buffer.alloc(115), 0),
      ).toThrow(/too short/);
      expect(() =>
        addon.seal(sealer, nonce, Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(100), -1),
      ).toThrow(/too short/);
      expect(() =>
        addon.seal(sealer, randomBytes(8), Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(100), 0),
      ).toThrow(/nonce/);
      expect(() => addon.open(sealer, nonce, Buffer.alloc(0), Buffer.alloc(20), Buffer.alloc(4), 0)).toThrow(
        /direction/,
      );
      expect(() =>
        addon.seal({} as never, nonce, Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(100), 0),
      ).toThrow();
    });
  },
);

const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

async function bound(type: 'udp4' | 'udp6', host: string): Promise<Socket> {
  const socket = createSocket(type);
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return socket;
}

it('finds the descriptor of a bound dgram socket, and -1 before', async () => {
  const socket = createSocket('udp4');
  sockets.push(socket);
  expect(udpSocketFd(socket)).toBe(-1);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  expect(udpSocketFd(socket)).toBeGreaterThan(2);
});

describe.skipIf(native?.sendBatch === undefined)('batched sends (Linux)', () => {
  const addon = native as Required<NativeAddon>;

  it.each([
    ['udp4', '127.0.0.1', true],
    ['udp4', '127.0.0.1', false],
    ['udp6', '::1', true],
  ] as const)('%s %s (gso %s) delivers every datagram whole, in order', async (type, host, gso) => {
    const receiver = await bound(type, host);
    const sender = await bound(type, host);
    const address = addon.socketAddress(host, receiver.address().port)!;
    // Runs of equal sizes, a short one ending a run, a larger one starting the next.
    const sizes = [...Array(70).fill(1200), 500, 40, ...Array(10).fill(1452), 1452, 7];
    const datagrams = sizes.map((size, i) => randomBytes(size).fill(i, 0, 1));
    const received: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      receiver.on('message', (message) => {
        received.push(message);
        if (received.length === datagrams.length) resolve();
      }),
    );
    expect(addon.sendBatch(udpSocketFd(sender), address, datagrams, datagrams.length, gso)).toBe(
      datagrams.length,
    );
    await all;
    expect(received.map((m) => m.length)).toEqual(sizes);
    expect(received.every((m, i) => m.equals(datagrams[i]!))).toBe(true);
  });

  it('sends only the first `count`, and reports a bad descriptor as -errno', async () => {
    const receiver = await bound('udp4', '127.0.0.1');
    const sender = await bound('udp4', '127.0.0.1');
    const address = addon.socketAddress('127.0.0.1', receiver.address().port)!;
    const datagrams = [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')];
    const first = new Promise<Buffer>((resolve) => receiver.once('message', resolve));
    expect(addon.sendBatch(udpSocketFd(sender), address, datagrams, 1, true)).toBe(1);
    expect((await first).toString()).toBe('a');
    expect(addon.sendBatch(1_000_000, address, datagrams, 1, false)).toBeLessThan(0);
    expect(() => addon.sendBatch(udpSocketFd(sender), Buffer.alloc(3), datagrams, 1, false)).toThrow(
      /address/,
    );
    expect(() => addon.sendBatch(udpSocketFd(sender), address, [Buffer.alloc(0)], 1, false)).toThrow(
      /1\.\.65507/,
    );
  });

  it('builds addresses for IP literals only', () => {
    expect(addon.socketAddress('127.0.0.1', 9)?.length).toBe(16);
    expect(addon.socketAddress('::1', 9)?.length).toBe(28);
    expect(addon.socketAddress('example.com', 9)).toBeNull();
    expect(addon.socketAddress('127.0.0.1', 70000)).toBeNull();
    expect(addon.socketAddress('fe80::1%eth0', 9)).toBeNull();
  });
});

describe.skipIf(native?.startReceiver === undefined)('batched receives (Linux)', () => {
  const addon = native as Required<NativeAddon>;
  const SLOT = 2048;

  it('reads a burst in few callbacks, each datagram in its slot with its length and source', async () => {
    for (const [type, host] of [
      ['udp4', '127.0.0.1'],
      ['udp6', '::1'],
    ] as const) {
      const receiver = await bound(type, host);
      const sender = await bound(type, host);
      expect(stopDgramReading(receiver)).toBe(true);
      const data = new Uint8Array(8 * SLOT);
      const meta = new Int32Array(8 * RECEIVE_META_INTS);
      const got: { length: number; first: number; port: number; address: string }[] = [];
      let batches = 0;
      const handle = addon.startReceiver(udpSocketFd(receiver), data, SLOT, meta, (count) => {
        batches++;
        for (let i = 0; i < count; i++) {
          const m = i * RECEIVE_META_INTS;
          got.push({
            length: meta[m]!,
            first: data[i * SLOT]!,
            port: meta[m + 2]!,
            address: addon.formatAddress(meta, i),
          });
        }
      }) as NativeReceiverHandle;
      expect(typeof handle).toBe('object');
      const sizes = [...Array(20).fill(1200), 1, SLOT, SLOT + 1, 9];
      const address = addon.socketAddress(host, receiver.address().port)!;
      const datagrams = sizes.map((size, i) => Buffer.alloc(size, i + 1));
      expect(addon.sendBatch(udpSocketFd(sender), address, datagrams, datagrams.length, false)).toBe(
        sizes.length,
      );
      for (let i = 0; i < 100 && got.length < sizes.length; i++) await new Promise((r) => setTimeout(r, 10));
      addon.stopReceiver(handle);
      addon.stopReceiver(handle);
      // Every datagram, in order; the one longer than a slot reported as -1 (truncated).
      expect(got.map((g) => g.length)).toEqual(sizes.map((size) => (size > SLOT ? -1 : size)));
      expect(got.map((g) => g.first)).toEqual(sizes.map((_, i) => i + 1));
      expect(new Set(got.map((g) => `${g.address} ${g.port}`))).toEqual(
        new Set([`${host} ${sender.address().port}`]),
      );
      expect(batches).toBeLessThan(sizes.length); // more than one datagram per call
      expect(resumeDgramReading(receiver)).toBe(true);
      const after = new Promise<Buffer>((resolve) => receiver.once('message', resolve));
      sender.send(Buffer.from('dgram again'), receiver.address().port, host);
      expect((await after).toString()).toBe('dgram again');
    }
  });

  it('refuses bad arguments with a clear error', async () => {
    const socket = await bound('udp4', '127.0.0.1');
    const fd = udpSocketFd(socket);
    const meta = new Int32Array(RECEIVE_META_INTS);
    const noop = () => {};
    expect(() => addon.startReceiver(fd, new Uint8Array(10), SLOT, meta, noop)).toThrow(/no slot/);
    expect(() => addon.startReceiver(fd, new Uint8Array(2 * SLOT), SLOT, meta, noop)).toThrow(/too short/);
    expect(() => addon.startReceiver(fd, new Uint8Array(SLOT), SLOT, new Int32Array(8), 7 as never)).toThrow(
      /bad arguments/,
    );
    expect(addon.startReceiver(1_000_000, new Uint8Array(SLOT), SLOT, meta, noop)).toBeLessThan(0);
    expect(() => addon.stopReceiver({} as never)).toThrow(/not a receiver/);
    expect(() => addon.formatAddress(meta, 5)).toThrow(/bad arguments/);
  });
});
