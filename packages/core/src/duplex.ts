import { Duplex } from 'node:stream';
import { AnttError, ErrorCode } from './errors.js';
import type { Connection } from './types.js';

/**
 * A byte-stream view of a connection, for piping files and stdin. Each written chunk is sent as one
 * message; each received message is pushed as one chunk. Ending the writable side closes the connection
 * gracefully (the contract has no half-close), so pipe into it last. The readable side ends when the peer
 * closes cleanly and errors when the connection fails.
 */
export function connectionDuplex(connection: Connection): Duplex {
  let pulling = false;

  const duplex = new Duplex({
    allowHalfOpen: true,
    write(chunk: Uint8Array, _encoding, callback) {
      connection.send(chunk).then(() => callback(), callback);
    },
    final(callback) {
      connection.close().then(() => callback(), callback);
    },
    read() {
      if (pulling) return;
      pulling = true;
      void pull();
    },
    destroy(error, callback) {
      if (connection.state !== 'closed') connection.destroy(error ?? undefined);
      callback(error);
    },
  });

  async function pull(): Promise<void> {
    try {
      for (;;) {
        const message = await connection.receive();
        if (!duplex.push(message)) break;
      }
    } catch (error) {
      if (AnttError.is(error) && error.code === ErrorCode.CLOSED && connection.closeError === undefined) {
        duplex.push(null);
      } else {
        duplex.destroy(error as Error);
      }
    } finally {
      pulling = false;
    }
  }

  return duplex;
}
