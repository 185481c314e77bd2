import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../test/helpers.js';
import { adoptAccepted, chunksAreTransient, onChunks, setDirectTarget } from './read-sink.js';
import { SimultaneousOpener } from './simultaneous-open.js';

const WAIT_MS = 5_000;
const MiB = 1024 * 1024;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const close of cleanup.splice(0)) close();
});

function track<T extends Socket | Server>(thing: T): T {
  cleanup.push(() => (thing instanceof Socket ? thing.destroy() : thing.close()));
  return thing;
}

/** A server that accepts one connection paused (as the listen window does) and a client dialling it. */
async function acceptedPair(): Promise<{ server: Server; accepted: Socket; client: Socket }> {
  const server = track(createServer({ allowHalfOpen: true, pauseOnConnect: true }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening', { signal: AbortSignal.timeout(WAIT_MS) });
  const { port } = server.address() as AddressInfo;
  const client = track(connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const [accepted] = (await once(server, 'connection', { signal: AbortSignal.timeout(WAIT_MS) })) as [Socket];
  track(accepted);
  return { server, accepted, client };
}

/** Collects what `socket` reads through its sink (or 'data' events) until `bytes` have arrived. */
function collect(socket: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${total} of ${bytes} bytes arrived`)), WAIT_MS);
    const stop = onChunks(socket, (chunk) => {
      // Copied: a sink's chunk is a view of its reused scratch buffer.
      chunks.push(Buffer.from(chunk));
      total += chunk.length;
      if (total < bytes) return;
      clearTimeout(timer);
      stop();
      resolve(Buffer.concat(chunks));
    });
  });
}

describe('adoptAccepted', () => {
  it('moves an accepted socket to one that reads through a sink, keeping bytes sent before the move', async () => {
    const { accepted, client } = await acceptedPair();
    const early = Buffer.from('sent before the accepted socket was re-wrapped');
    client.write(early);
    expect(chunksAreTransient(accepted)).toBe(false);
    const adopted = track(adoptAccepted(accepted, { allowHalfOpen: true }));
    expect(adopted).not.toBe(accepted);
    expect(chunksAreTransient(adopted)).toBe(true);
    expect(adopted.remotePort).toBe(client.localPort);
    const later = Buffer.from(' and after');
    client.write(later);
    expect((await collect(adopted, early.length + later.length)).toString()).toBe(
      'sent before the accepted socket was re-wrapped and after',
    );
  });

  it('reads a large message straight into the buffer being assembled, as a dialled socket does', async () => {
    const { accepted, client } = await acceptedPair();
    const adopted = track(adoptAccepted(accepted, { allowHalfOpen: true }));
    const message = Buffer.alloc(4 * MiB);
    for (let i = 0; i < message.length; i += 4096) message[i] = (i / 4096) & 0xff;
    const target = Buffer.alloc(message.length);
    let filled = 0;
    let directReads = 0;
    let scratchBytes = 0;
    let resolveDone = (): void => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    setDirectTarget(adopted, {
      readTarget: (minBytes) => (target.length - filled >= minBytes ? target.subarray(filled) : undefined),
      commitRead: (bytes) => {
        directReads++;
        filled += bytes;
        if (filled === target.length) resolveDone();
      },
    });
    // The reads the target refuses (the first, before it existed, and a last one shorter than the
    // minimum direct read) land in the scratch buffer and come here.
    onChunks(adopted, (chunk) => {
      chunk.copy(target, filled);
      filled += chunk.length;
      scratchBytes += chunk.length;
      if (filled === target.length) resolveDone();
    });
    client.write(message);
    await Promise.race([done, new Promise((_, reject) => setTimeout(reject, WAIT_MS, new Error('timeout')))]);
    expect(target.equals(message)).toBe(true);
    expect(directReads).toBeGreaterThan(0);
    // Only the first read (asked for before the target existed, at most the 64 KiB scratch buffer) and
    // a tail shorter than the 16 KiB minimum direct read may land in the scratch buffer.
    expect(scratchBytes).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
  });

  it('keeps half-open working: the peer ends, the adopted socket still writes, then ends too', async () => {
    const { accepted, client } = await acceptedPair();
    const adopted = track(adoptAccepted(accepted, { allowHalfOpen: true }));
    const received = collect(adopted, 5);
    const ended = once(adopted, 'end', { signal: AbortSignal.timeout(WAIT_MS) });
    client.end('hello');
    expect((await received).toString()).toBe('hello');
    await ended;
    const answer = collect(client, 6);
    const closed = Promise.all([
      once(adopted, 'close', { signal: AbortSignal.timeout(WAIT_MS) }),
      once(client, 'close', { signal: AbortSignal.timeout(WAIT_MS) }),
    ]);
    adopted.end('answer');
    expect((await answer).toString()).toBe('answer');
    await closed;
  });

  it('reports a reset from the peer as an error and closes', async () => {
    const { accepted, client } = await acceptedPair();
    const adopted = track(adoptAccepted(accepted, { allowHalfOpen: true }));
    const failed = once(adopted, 'error', { signal: AbortSignal.timeout(WAIT_MS) });
    client.resetAndDestroy();
    const [error] = (await failed) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
    expect(adopted.destroyed).toBe(true);
  });

  it('releases the server and closes the kernel socket when the adopted socket is destroyed', async () => {
    const { server, accepted, client } = await acceptedPair();
    const adopted = adoptAccepted(accepted, { allowHalfOpen: true });
    await new Promise((resolve) => setImmediate(resolve));
    const count = await new Promise<number>((resolve, reject) =>
      server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
    );
    expect(count).toBe(0);
    client.resume();
    const ended = once(client, 'end', { signal: AbortSignal.timeout(WAIT_MS) });
    adopted.destroy();
    await ended;
  });

  it('leaves a socket that already flows as it is', async () => {
    const { accepted } = await acceptedPair();
    accepted.resume();
    expect(adoptAccepted(accepted, { allowHalfOpen: true })).toBe(accepted);
    expect(chunksAreTransient(accepted)).toBe(false);
  });
});

describe('SimultaneousOpener', () => {
  it('gives the side whose listener took the connection the same reader as the side that dialled', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const signal = AbortSignal.timeout(WAIT_MS * 2);
    const deadline = performance.now() + WAIT_MS * 2;
    const openerOf = (localPort: number, remotePort: number) =>
      new SimultaneousOpener({
        localPort,
        localAddress: '127.0.0.1',
        remote: { host: '127.0.0.1', port: remotePort },
        family: 4,
      });
    const a = openerOf(portA, portB);
    const b = openerOf(portB, portA);
    const fromA = a.next(signal, deadline);
    // A is refused (B does not exist yet) and starts alternating listen windows and attempts.
    for (let i = 0; i < 500 && a.refused === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(a.refused).toBeGreaterThan(0);
    const [socketA, socketB] = await Promise.all([fromA, b.next(signal, deadline)]);
    track(socketA);
    track(socketB);
    // One side's listener took the other's attempt.
    expect(a.accepted + b.accepted).toBe(1);
    expect(chunksAreTransient(socketA)).toBe(true);
    expect(chunksAreTransient(socketB)).toBe(true);
    const atB = collect(socketB, 6);
    const atA = collect(socketA, 6);
    socketA.write('a to b');
    socketB.write('b to a');
    expect((await atB).toString()).toBe('a to b');
    expect((await atA).toString()).toBe('b to a');
  });
});
