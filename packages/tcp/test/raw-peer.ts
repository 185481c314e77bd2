import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import {
  encodeHello,
  FRAME_HEADER_BYTES,
  FrameType,
  HELLO_BYTES,
  writeFrameHeader,
} from '../src/wire-format.js';

/**
 * A hand-written peer on a plain listening socket: our TcpConnection's outgoing attempt reaches it like
 * any TCP server. `script` runs once the connection is accepted (and, with `hello: true`, once both
 * HELLOs were exchanged correctly), so tests can send whatever bytes they like.
 */
export async function rawPeer(
  host: string,
  port: number,
  script: (socket: Socket) => void,
  options: { hello?: boolean } = {},
): Promise<{ server: Server; sockets: Socket[]; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    if (!options.hello) {
      script(socket);
      return;
    }
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      if (seen.length < HELLO_BYTES) return;
      socket.off('data', onData);
      socket.write(
        encodeHello({
          role: 'server',
          secured: false,
          nonce: randomBytes(16),
          maxMessageBytes: 1 << 20,
          idleTimeoutMs: 60_000,
        }),
      );
      script(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen({ host, port }, resolve));
  return {
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export function frame(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrameHeader(out, 0, type as FrameType, payload.byteLength);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export { FrameType };
