import { runConnectionSuite } from '@antt/test-kit';
import { TcpConnection } from '../src/index.js';
import { createTcpPair, vanish } from './helpers.js';

const IDLE_TIMEOUT_MS = 1_000;

runConnectionSuite('tcp over loopback', {
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  maxMessageBytes: 128 * 1024 * 1024,
  createPair: async () => {
    const { a, b } = await createTcpPair({
      idleTimeout: IDLE_TIMEOUT_MS,
      maxMessageBytes: 128 * 1024 * 1024,
    });
    return {
      a,
      b,
      vanish: (side) => {
        if (!(side instanceof TcpConnection))
          throw new Error('vanish() got a connection this pair did not make');
        vanish(side);
      },
    };
  },
});
