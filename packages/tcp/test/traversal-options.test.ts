// The options the NAT-traversal layer needs: a synchronised first attempt (startAt), reconnecting at
// once after a reset (onRefused: 'reconnect'), and running over a socket that is already open (a relay).
import { randomBytes } from 'node:crypto';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { AnttError, ErrorCode } from '@antt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpConnection } from '../src/index.js';
import { freePort, TEST_PASSPHRASE } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function listen(onConnection: (socket: Socket) => void): Promise<Server> {
  const server = createServer(onConnection);
  cleanups.push(() => server.close());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function portOf(server: Server): number {
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  return address.port;
}

/** Two connected sockets joined through a byte pipe in the middle, as a relay joins them. */
async function pipedPair(): Promise<[Socket, Socket]> {
  const accepted: Socket[] = [];
  const arrived: (() => void)[] = [];
  const server = await listen((socket) => {
    accepted.push(socket);
    arrived.shift()?.();
  });
  const port = portOf(server);
  const dial = async (): Promise<Socket> => {
    const socket = netConnect({ host: '127.0.0.1', port });
    cleanups.push(() => socket.destroy());
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    return socket;
  };
  const a = await dial();
  const b = await dial();
  while (accepted.length < 2) await new Promise<void>((resolve) => arrived.push(resolve));
  const [ra, rb] = accepted as [Socket, Socket];
  ra.pipe(rb);
  rb.pipe(ra);
  cleanups.push(() => {
    ra.destroy();
    rb.destroy();
  });
  return [a, b];
}

describe('TcpConnection over a given socket', () => {
  it('runs the handshake end to end through a pipe and carries messages both ways', async () => {
    const [sa, sb] = await pipedPair();
    // Bytes that arrived before the connection took the socket are kept (a relay grant's followers).
    const a = new TcpConnection({ socket: sa, role: 'client', passphrase: TEST_PASSPHRASE });
    const b = new TcpConnection({ socket: sb, role: 'server', passphrase: TEST_PASSPHRASE });
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    );
    await Promise.all([a.connect({ timeout: 10_000 }), b.connect({ timeout: 10_000 })]);
    expect(a.remotePeerId).toBe(b.localPeerId);
    const message = randomBytes(300_000);
    await a.send(message);
    expect(Buffer.from(await b.receive({ timeout: 10_000 })).equals(message)).toBe(true);
    await b.send(Buffer.from('back'));
    expect(Buffer.from(await a.receive({ timeout: 10_000 })).toString()).toBe('back');
  });

  it('reads bytes that were put back on the socket before it was handed over', async () => {
    const [sa, sb] = await pipedPair();
    const a = new TcpConnection({ socket: sa, role: 'client', passphrase: TEST_PASSPHRASE });
    cleanups.push(() => a.destroy());
    const connecting = a.connect({ timeout: 10_000 });
    // b's side: wait until a's HELLO is there, then hand the socket over with those bytes put back.
    const early = await new Promise<Buffer>((resolve) => sb.once('data', resolve));
    sb.pause();
    sb.unshift(early);
    const b = new TcpConnection({ socket: sb, role: 'server', passphrase: TEST_PASSPHRASE });
    cleanups.push(() => b.destroy());
    await Promise.all([connecting, b.connect({ timeout: 10_000 })]);
    await a.send(Buffer.from('hi'));
    expect(Buffer.from(await b.receive({ timeout: 10_000 })).toString()).toBe('hi');
  });

  it('fails at once, without a simultaneous open, when the socket closes during the handshake', async () => {
    const [sa, sb] = await pipedPair();
    const a = new TcpConnection({ socket: sa, role: 'client', passphrase: TEST_PASSPHRASE });
    cleanups.push(() => a.destroy());
    const connecting = a.connect({ timeout: 10_000 });
    await new Promise((resolve) => sb.once('data', resolve));
    sb.destroy();
    const error = await connecting.then(
      () => undefined,
      (e: unknown) => e,
    );
    // The far end closed (FIN through the pipe): the handshake names it instead of retrying to the deadline.
    expect(AnttError.is(error) && error.code).toBe(ErrorCode.PROTOCOL);
    expect((error as Error).message).toMatch(/closed the connection without answering the Antt handshake/);
  });

  it('refuses a socket that is not connected', () => {
    expect(() => new TcpConnection({ socket: {} as Socket, role: 'client', insecure: true })).toThrow(
      /option socket must be a connected net.Socket/,
    );
  });
});

describe('TcpConnection timing options for NAT traversal', () => {
  it('makes no attempt before startAt', async () => {
    const arrivals: number[] = [];
    const server = await listen((socket) => {
      arrivals.push(performance.now());
      socket.destroy();
    });
    const startAt = performance.now() + 300;
    const connection = new TcpConnection({
      localPort: await freePort(),
      remote: { host: '127.0.0.1', port: portOf(server) },
      role: 'client',
      insecure: true,
      startAt,
    });
    cleanups.push(() => connection.destroy());
    await connection.connect({ timeout: 2_000 }).catch(() => undefined);
    expect(arrivals.length).toBeGreaterThan(0);
    expect(arrivals[0]).toBeGreaterThanOrEqual(startAt);
  });

  it("with onRefused 'reconnect' tries again within milliseconds instead of listening 50-250 ms", async () => {
    const attemptsIn = async (onRefused: 'listen' | 'reconnect'): Promise<number> => {
      const connection = new TcpConnection({
        localPort: await freePort(),
        remote: { host: '127.0.0.1', port: await freePort() }, // nobody there: every attempt is reset
        role: 'client',
        insecure: true,
        onRefused,
      });
      cleanups.push(() => connection.destroy());
      const error = await connection.connect({ timeout: 1_000 }).then(
        () => undefined,
        (e: unknown) => e as AnttError,
      );
      expect(error?.code).toBe(ErrorCode.REFUSED);
      return Number(/\((\d+) attempts in/.exec(error!.message)?.[1]);
    };
    // Listening windows of at least 50 ms allow at most 20 attempts in a second; reconnecting, far more.
    expect(await attemptsIn('listen')).toBeLessThanOrEqual(21);
    expect(await attemptsIn('reconnect')).toBeGreaterThan(40);
  });

  it('counts its attempts in connectAttempts', async () => {
    const connection = new TcpConnection({
      localPort: await freePort(),
      remote: { host: '127.0.0.1', port: await freePort() },
      role: 'client',
      insecure: true,
      onRefused: 'reconnect',
    });
    cleanups.push(() => connection.destroy());
    expect(connection.connectAttempts).toBe(0);
    const error = await connection.connect({ timeout: 300 }).then(
      () => undefined,
      (e: unknown) => e as AnttError,
    );
    expect(connection.connectAttempts).toBeGreaterThan(1);
    expect(error?.message).toContain(`(${connection.connectAttempts} attempts in`);
  });
});
