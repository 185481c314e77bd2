import { createServer, type Server, type Socket } from 'node:net';
import { HELLO_BYTES } from '../src/wire-format.js';

/** Each side of a secured connection sends two handshake frames (initiator: 1 and 3; responder: 2 and 4). */
const HANDSHAKE_FRAMES_PER_DIRECTION = 2;

export type Direction = 'a→b' | 'b→a';

export interface Unit {
  kind: 'hello' | 'handshake' | 'record';
  /** Index among the units of this kind in this direction. */
  index: number;
  /** The whole unit (length prefix included); change it in place to tamper. */
  bytes: Buffer;
}

/**
 * A man in the middle for two TcpConnections on loopback: `a` targets `portForA`, `b` targets `portForB`
 * (both dial in, and the proxy joins the two sockets). It cuts each direction into the units of the
 * secured protocol (HELLO, handshake frames, sealed records) and lets `tamper` change them on the way.
 * One side ending or resetting resets the other.
 */
export async function mitmProxy(
  host: string,
  ports: { forA: number; forB: number },
  tamper: (direction: Direction, unit: Unit) => void,
): Promise<{ close(): Promise<void> }> {
  const sockets: { a?: Socket; b?: Socket } = {};
  const early: { a: Buffer[]; b: Buffer[] } = { a: [], b: [] };
  const all: Socket[] = [];

  const relay = (from: 'a' | 'b'): ((chunk: Buffer) => void) => {
    const direction: Direction = from === 'a' ? 'a→b' : 'b→a';
    let pending = Buffer.alloc(0);
    const counts = { hello: 0, handshake: 0, record: 0 };
    return (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        let kind: Unit['kind'];
        let length: number;
        if (counts.hello === 0) {
          kind = 'hello';
          length = HELLO_BYTES;
        } else if (counts.handshake < HANDSHAKE_FRAMES_PER_DIRECTION) {
          if (pending.length < 5) break;
          kind = 'handshake';
          length = 5 + pending.readUInt32BE(0);
        } else {
          if (pending.length < 4) break;
          kind = 'record';
          length = 4 + pending.readUInt32BE(0);
        }
        if (pending.length < length) break;
        const bytes = Buffer.from(pending.subarray(0, length));
        pending = pending.subarray(length);
        tamper(direction, { kind, index: counts[kind]++, bytes });
        const to = from === 'a' ? 'b' : 'a';
        if (sockets[to]) sockets[to].write(bytes);
        else early[to].push(bytes);
      }
    };
  };

  const accept =
    (side: 'a' | 'b') =>
    (socket: Socket): void => {
      all.push(socket);
      socket.on('error', () => {});
      if (sockets[side]) {
        socket.destroy();
        return;
      }
      sockets[side] = socket;
      for (const bytes of early[side].splice(0)) socket.write(bytes);
      socket.on('data', relay(side));
      const other = (): Socket | undefined => sockets[side === 'a' ? 'b' : 'a'];
      socket.on('end', () => other()?.end());
      socket.on('close', (hadError) => {
        if (hadError) other()?.resetAndDestroy();
        else other()?.end();
      });
    };

  const servers: Server[] = [createServer(accept('a')), createServer(accept('b'))];
  await Promise.all(
    servers.map(
      (server, i) =>
        new Promise<void>((resolve) =>
          server.listen({ host, port: i === 0 ? ports.forA : ports.forB }, resolve),
        ),
    ),
  );
  return {
    close: async () => {
      for (const socket of all) socket.destroy();
      await Promise.all(
        servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
  };
}
