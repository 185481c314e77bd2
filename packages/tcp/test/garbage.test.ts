import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type AnttError, ErrorCode } from '@antt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpConnection } from '../src/index.js';
import { encodeHello } from '../src/wire-format.js';
import { createTcpPair, freePort } from './helpers.js';
import { FrameType, frame, rawPeer } from './raw-peer.js';

const HOST = '127.0.0.1';

/** A healthy pair that runs beside every hostile connection and must not notice any of them. */
let healthy: { a: TcpConnection; b: TcpConnection };

beforeAll(async () => {
  healthy = await createTcpPair({ idleTimeout: 5_000 });
  await Promise.all([healthy.a.connect({ timeout: 5_000 }), healthy.b.connect({ timeout: 5_000 })]);
});

afterAll(async () => {
  await healthy.a.close();
});

async function healthyStillWorks(): Promise<void> {
  const message = randomBytes(1000);
  await healthy.a.send(message);
  expect(Buffer.from(await healthy.b.receive({ timeout: 2_000 })).equals(message)).toBe(true);
  expect(healthy.a.state).toBe('open');
  expect(healthy.b.state).toBe('open');
}

/** Opens a connection to a raw peer that completes the handshake and then runs `script`. */
async function hostile(
  script: (socket: Socket) => void,
): Promise<{ error: AnttError; connection: TcpConnection }> {
  const port = await freePort();
  const peer = await rawPeer(HOST, port, script, { hello: true });
  const connection = new TcpConnection({
    localAddress: HOST,
    localPort: await freePort(),
    remote: { host: HOST, port },
    role: 'client',
    maxMessageBytes: 1024 * 1024,
    idleTimeout: 5_000,
    // The raw peer speaks plain frames (sealed records are covered in security.test.ts).
    insecure: true,
  });
  try {
    const closed = new Promise<Error | undefined>((resolve) => connection.once('close', resolve));
    // Bytes that arrive with the peer's HELLO are decoded at once, so connect() itself may fail with
    // the protocol error; otherwise the open connection closes with it.
    await connection.connect({ timeout: 5_000 }).catch(() => {});
    const error = (await closed) as AnttError;
    return { error, connection };
  } finally {
    connection.destroy();
    await peer.close();
  }
}

describe('hostile bytes after the handshake close that connection only', () => {
  it('random garbage', async () => {
    const { error } = await hostile((socket) =>
      socket.write(Buffer.concat([Buffer.of(0, 0, 0, 3, 0x66), randomBytes(4096)])),
    );
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/sent a frame of unknown type 0x66/);
    await healthyStillWorks();
  });

  it('an oversized length prefix', async () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(0xffff_ff00, 0);
    header[4] = FrameType.DATA;
    const { error } = await hostile((socket) => socket.write(header));
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(
      /a message of 4294967040 bytes, over this connection's limit of 1048576 bytes/,
    );
    await healthyStillWorks();
  });

  it('a truncated frame followed by a clean TCP close', async () => {
    const { error, connection } = await hostile((socket) => {
      socket.write(frame(FrameType.DATA, Buffer.from('whole')));
      socket.end(frame(FrameType.DATA, Buffer.alloc(100)).subarray(0, 60));
    });
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(
      /in the middle of a DATA frame \(55 of 100 payload bytes\): a truncated frame/,
    );
    // What arrived whole before the damage is still readable.
    expect(Buffer.from(await connection.receive()).toString()).toBe('whole');
    await healthyStillWorks();
  });

  it('an oversized control frame', async () => {
    const { error } = await hostile((socket) => socket.write(frame(FrameType.PING, Buffer.alloc(5000))));
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    await healthyStillWorks();
  });

  it('garbage instead of a HELLO fails connect() with ANTT_ERR_PROTOCOL', async () => {
    const port = await freePort();
    const peer = await rawPeer(HOST, port, (socket) => socket.write(randomBytes(64)));
    const connection = new TcpConnection({
      localAddress: HOST,
      localPort: await freePort(),
      remote: { host: HOST, port },
      role: 'server',
      insecure: true,
    });
    try {
      const error = (await connection.connect({ timeout: 5_000 }).catch((e: unknown) => e)) as AnttError;
      expect(error.code).toBe(ErrorCode.PROTOCOL);
      expect(error.message).toMatch(/it is not an Antt peer/);
    } finally {
      connection.destroy();
      await peer.close();
    }
    await healthyStillWorks();
  });
});

describe('a peer that closes at once', () => {
  it('a CLOSE right behind the HELLO ends connect() cleanly, not in a hang', async () => {
    const port = await freePort();
    // HELLO and CLOSE in one write, so they arrive in one chunk.
    const hello = encodeHello({
      role: 'server',
      secured: false,
      nonce: randomBytes(16),
      maxMessageBytes: 1024,
      idleTimeoutMs: 60_000,
    });
    const peer = await rawPeer(HOST, port, (socket) =>
      socket.write(Buffer.concat([hello, frame(FrameType.CLOSE, new Uint8Array(0))])),
    );
    const connection = new TcpConnection({
      localAddress: HOST,
      localPort: await freePort(),
      remote: { host: HOST, port },
      role: 'client',
      idleTimeout: 60_000,
      insecure: true,
    });
    try {
      const closed = new Promise<Error | undefined>((resolve) => connection.once('close', resolve));
      await connection.connect({ timeout: 5_000 }).catch(() => {});
      expect(await closed).toBeUndefined();
      expect(connection.state).toBe('closed');
    } finally {
      connection.destroy();
      await peer.close();
    }
  });
});
