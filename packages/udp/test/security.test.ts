/**
 * Security of Antt/UDP on loopback: the option rule, peer ids, failures that end both sides naming the
 * cause (wrong passphrase, unknown peer id, handshake tampered with by a man in the middle, another wire
 * version, one insecure side), and a man in the middle that injects forged and replayed datagrams with a
 * live connection's ID and the client's source address during a 64 MiB transfer.
 */
import { createHash } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { crc32 } from 'node:zlib';
import { type Address, ErrorCode } from '@antt/core';
import { Identity } from '@antt/secure';
import { expectCode, filled } from '@antt/test-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpConnection, UdpEndpoint, WIRE_VERSION } from '../src/index.js';
import { LOOPBACK, TEST_SECURITY } from './helpers.js';

const MiB = 1024 * 1024;
const HEADER_BYTES = 18;
const TYPE_INIT = 1;
const TYPE_DATA = 3;
const TYPE_HANDSHAKE = 4;
const TYPE_VERSION = 5;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rawSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
}

async function endpoint(options: Parameters<typeof UdpEndpoint.bind>[0] = {}): Promise<UdpEndpoint> {
  const bound = await UdpEndpoint.bind({ host: LOOPBACK, ...options });
  cleanups.push(() => bound.close());
  return bound;
}

/** A server that listens with `options`, and its accept() that outlives a failed handshake. */
async function server(options: Parameters<typeof UdpEndpoint.bind>[0]) {
  const listening = await endpoint(options);
  listening.listen();
  return listening;
}

/** Handshake packets carry a CRC-32 trailer: a man in the middle recomputes it after changing bytes. */
function fixChecksum(datagram: Buffer): void {
  datagram.writeUInt32BE(crc32(datagram.subarray(0, datagram.length - 4)), datagram.length - 4);
}

interface Mitm {
  address: Address;
  /** Datagrams client → server, as forwarded. */
  upstream: Buffer[];
  /** Sends `bytes` to the server from the address the server knows as the client (a spoofed source). */
  inject(bytes: Uint8Array): void;
  close(): void;
}

/**
 * A man in the middle between a client and `target`: the client talks to `address`, the server sees
 * the relay's upstream socket as the client. `tamper` may change (or drop, returning null) each
 * datagram in either direction.
 */
async function mitm(
  target: Address,
  tamper: (datagram: Buffer, toServer: boolean) => Buffer | null = (d) => d,
): Promise<Mitm> {
  const front = await rawSocket();
  const back = await rawSocket();
  let client: RemoteInfo | undefined;
  const upstream: Buffer[] = [];
  front.on('message', (datagram, from) => {
    client = from;
    const out = tamper(Buffer.from(datagram), true);
    if (!out) return;
    upstream.push(out);
    back.send(out, target.port, target.host);
  });
  back.on('message', (datagram) => {
    const out = tamper(Buffer.from(datagram), false);
    if (out && client) front.send(out, client.port, client.address);
  });
  return {
    address: { host: LOOPBACK, port: front.address().port },
    upstream,
    inject: (bytes) => back.send(bytes, target.port, target.host),
    close: () => {},
  };
}

describe('options', () => {
  it('requires a choice, naming the four, and refuses insecure with another', () => {
    const remote = { host: LOOPBACK, port: 4456 };
    expect(() => new UdpConnection({ remote })).toThrow(
      /passphrase .*allowedPeers .*acceptAnyPeer: true .*insecure: true/,
    );
    for (const extra of [{ passphrase: 'x' }, { acceptAnyPeer: true as const }, { allowedPeers: [] }]) {
      expect(() => new UdpConnection({ remote, insecure: true, ...extra })).toThrow(/cannot be combined/);
    }
  });

  it('requires a choice on an endpoint that listens; a connection may bring its own', async () => {
    const bare = await endpoint();
    expect(() => bare.listen()).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => new UdpConnection({ endpoint: bare, remote: { host: LOOPBACK, port: 4456 } })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    const own = new UdpConnection({ endpoint: bare, remote: { host: LOOPBACK, port: 4456 }, insecure: true });
    expect([own.encrypted, own.localPeerId]).toEqual([false, undefined]);
    own.destroy();
  });
});

describe('peer ids', () => {
  it('lets both sides learn and check the other, with identities and allow lists', {
    timeout: 10_000,
  }, async () => {
    const alice = Identity.generate();
    const bob = Identity.generate();
    const listening = await server({ identity: bob, allowedPeers: [alice.peerId] });
    const client = await endpoint({ identity: alice, allowedPeers: [bob.peerId] });
    const accepted = listening.accept({ timeout: 5_000 });
    const connection = await client.connect(listening.address!, { timeout: 5_000 });
    const peer = await accepted;
    expect(connection.encrypted).toBe(true);
    expect([connection.localPeerId, connection.remotePeerId]).toEqual([alice.peerId, bob.peerId]);
    expect([peer.localPeerId, peer.remotePeerId]).toEqual([bob.peerId, alice.peerId]);
    expect(connection.stats().encrypted).toBe(1);
  });

  it('ends both sides with ANTT_ERR_AUTH when a peer id is not allowed, naming it', {
    timeout: 10_000,
  }, async () => {
    const alice = Identity.generate();
    const listening = await server({ acceptAnyPeer: true, allowedPeers: [Identity.generate().peerId] });
    const client = await endpoint();
    const started = Date.now();
    const error = await expectCode(
      client.connect(listening.address!, { identity: alice, acceptAnyPeer: true, timeout: 5_000 }),
      ErrorCode.AUTH,
    );
    expect(error.message).toMatch(/not in its allowed list/);
    expect(error.message).toContain(alice.peerId);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(listening.stats().connections).toBe(0);
  });
});

describe('handshake failures', () => {
  it('ends both sides quickly with ANTT_ERR_AUTH on a wrong passphrase', { timeout: 10_000 }, async () => {
    const [a, b] = await Promise.all([endpoint(), endpoint()]);
    const one = new UdpConnection({ endpoint: a, remote: b.address!, passphrase: 'correct horse' });
    const two = new UdpConnection({ endpoint: b, remote: a.address!, passphrase: 'correct hoarse' });
    const started = Date.now();
    const errors = await Promise.all([
      expectCode(one.connect({ timeout: 5_000 }), ErrorCode.AUTH),
      expectCode(two.connect({ timeout: 5_000 }), ErrorCode.AUTH),
    ]);
    for (const error of errors) expect(error.message).toMatch(/wrong passphrase/);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('ends both sides with ANTT_ERR_AUTH when only one side is insecure', { timeout: 10_000 }, async () => {
    const [a, b] = await Promise.all([endpoint(), endpoint()]);
    const one = new UdpConnection({ endpoint: a, remote: b.address!, insecure: true });
    const two = new UdpConnection({ endpoint: b, remote: a.address!, ...TEST_SECURITY });
    const [e1, e2] = await Promise.all([
      expectCode(one.connect({ timeout: 5_000 }), ErrorCode.AUTH),
      expectCode(two.connect({ timeout: 5_000 }), ErrorCode.AUTH),
    ]);
    expect(e1.message).toMatch(/requires a secured connection/);
    expect(e2.message).toMatch(/runs with insecure: true/);
  });

  it('ends with ANTT_ERR_AUTH naming tampering when a man in the middle changes handshake messages', {
    timeout: 10_000,
  }, async () => {
    const listening = await server(TEST_SECURITY);
    const relay = await mitm(listening.address!, (datagram, toServer) => {
      // Flip one bit of every Noise message the server sends, and fix the checksum as an attacker would.
      if (!toServer && datagram[3] === TYPE_HANDSHAKE && datagram.length > HEADER_BYTES + 12) {
        datagram[datagram.length - 8]! ^= 0x10;
        fixChecksum(datagram);
      }
      return datagram;
    });
    const client = await endpoint(TEST_SECURITY);
    const started = Date.now();
    const error = await expectCode(client.connect(relay.address, { timeout: 5_000 }), ErrorCode.AUTH);
    expect(error.message).toMatch(/failed authentication/);
    expect(Date.now() - started).toBeLessThan(5_500);
    // The server heard the client's reject and dropped its side too.
    const deadline = Date.now() + 2_000;
    while (listening.stats().connections > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(listening.stats().connections).toBe(0);
  });

  it('answers an INIT of an older wire version with its own version, no larger', {
    timeout: 10_000,
  }, async () => {
    const listening = await server(TEST_SECURITY);
    const old = await rawSocket();
    const replies: Buffer[] = [];
    old.on('message', (m) => replies.push(m));
    // A version 1 INIT: header (destination 0), the sender's ID, CRC-32.
    const init = Buffer.alloc(HEADER_BYTES + 8 + 4);
    init.set([0xa7, 0x7e, 1, TYPE_INIT]);
    init.writeUInt32BE(0x1234_5678, HEADER_BYTES);
    init.writeUInt32BE(0x9abc_def0, HEADER_BYTES + 4);
    fixChecksum(init);
    old.send(init, listening.address!.port, LOOPBACK);
    while (replies.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const reply = replies[0]!;
    expect(reply.length).toBeLessThanOrEqual(init.length);
    expect([reply[2], reply[3]]).toEqual([WIRE_VERSION, TYPE_VERSION]);
    expect(reply.readUInt32BE(8)).toBe(0x9abc_def0); // addressed to the old peer's connection
    expect(listening.stats().connections).toBe(0);
  });
});

describe('a man in the middle during a transfer', () => {
  it('drops and counts forged, spoofed and replayed datagrams; 64 MiB arrive intact', {
    timeout: 60_000,
  }, async () => {
    const listening = await server(TEST_SECURITY);
    const relay = await mitm(listening.address!);
    const client = await endpoint(TEST_SECURITY);
    const accepted = listening.accept({ timeout: 5_000 });
    const sender = await client.connect(relay.address, { timeout: 5_000 });
    const receiver = await accepted;
    const remoteBefore = { ...receiver.remoteAddress };
    const stranger = await rawSocket();

    const total = 64 * MiB;
    const chunkBytes = 256 * 1024;
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let injected = 0;
    let fromStranger = 0;
    const attack = setInterval(() => {
      const data = relay.upstream.filter((d) => d[3] === TYPE_DATA);
      if (data.length < 2) return;
      const captured = data[data.length - 1]!;
      const old = data[Math.floor(data.length / 2)]!;
      // Replays, exact copies (the source address is the client's, as the server sees it).
      relay.inject(captured);
      relay.inject(old);
      // Forgeries: a changed byte of a real datagram, a header moved to a future packet number, and a
      // RESET frame as an insecure connection would carry it.
      const flipped = Buffer.from(captured);
      flipped[flipped.length - 20]! ^= 0x01;
      relay.inject(flipped);
      const future = Buffer.from(captured);
      future.writeUIntBE(future.readUIntBE(12, 6) + 1_000, 12, 6);
      relay.inject(future);
      const reset = Buffer.alloc(HEADER_BYTES + 2 + 4);
      captured.copy(reset, 0, 0, HEADER_BYTES);
      reset.writeUIntBE(captured.readUIntBE(12, 6) + 1, 12, 6);
      reset.set([0x05, 0x00], HEADER_BYTES);
      fixChecksum(reset);
      relay.inject(reset);
      injected += 5;
      // The same from another address: it fails authentication there too, and cannot move the connection.
      stranger.send(flipped, listening.address!.port, LOOPBACK);
      fromStranger++;
    }, 5);
    cleanups.push(() => clearInterval(attack));

    const sending = (async () => {
      for (let offset = 0, i = 0; offset < total; offset += chunkBytes, i++) {
        const chunk = filled(chunkBytes, 77 + i);
        sent.update(chunk);
        await sender.send(chunk);
      }
    })();
    let got = 0;
    while (got < total) {
      const message = await receiver.receive({ timeout: 10_000 });
      received.update(message);
      got += message.byteLength;
    }
    await sending;
    clearInterval(attack);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    expect(receiver.state).toBe('open');
    const stats = receiver.stats();
    const endpointStats = listening.stats();
    console.log('injected', injected, 'from a stranger', fromStranger, stats, endpointStats);
    const rejectedAuth = stats.datagramsRejectedAuth ?? 0;
    const rejectedReplay = stats.datagramsRejectedReplay ?? 0;
    expect(injected).toBeGreaterThan(50);
    // Every injected datagram was dropped as forged or replayed (those still in flight at the end aside).
    expect(rejectedAuth + rejectedReplay).toBeGreaterThanOrEqual(injected - 50);
    expect(rejectedAuth).toBeGreaterThan(injected / 5);
    expect(rejectedReplay).toBeGreaterThan(injected / 5);
    expect(endpointStats.datagramsRejectedAuth).toBe(rejectedAuth);
    expect(rejectedAuth + rejectedReplay).toBeGreaterThanOrEqual(injected + fromStranger - 50);
    expect(stats.pathMigrations).toBe(0);
    expect(stats.pathChallengesSent).toBe(0);
    expect(receiver.remoteAddress).toEqual(remoteBefore);
    await sender.close({ timeout: 10_000 });
  });
});

describe('foreign datagrams', () => {
  it('hands non-Antt datagrams (STUN) to handlers, counts them otherwise, and sends raw datagrams', {
    timeout: 10_000,
  }, async () => {
    const local = await endpoint(TEST_SECURITY);
    const peer = await rawSocket();
    // A STUN binding request: type 0x0001, length 0, magic cookie 0x2112A442, 12-byte transaction ID.
    const stun = Buffer.alloc(20);
    stun.writeUInt16BE(0x0001, 0);
    stun.writeUInt32BE(0x2112_a442, 4);
    const port = local.address!.port;
    peer.send(stun, port, LOOPBACK);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(local.stats().droppedInvalid).toBe(1);
    const seen: { bytes: Uint8Array; from: Address }[] = [];
    const remove = local.onForeignDatagram((bytes, from) => seen.push({ bytes, from }));
    peer.send(stun, port, LOOPBACK);
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(Buffer.from(seen[0]!.bytes).equals(stun)).toBe(true);
    expect(seen[0]!.from.port).toBe(peer.address().port);
    expect(local.stats().foreignDatagrams).toBe(1);
    remove();
    peer.send(stun, port, LOOPBACK);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(1);
    expect(local.stats().droppedInvalid).toBe(2);

    const arrived = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    await local.sendDatagram(Uint8Array.of(1, 2, 3), { host: LOOPBACK, port: peer.address().port });
    expect([...(await arrived)]).toEqual([1, 2, 3]);
  });
});
