import { runConnectionSuite } from '@antt/test-kit';
import { TcpConnection } from '../src/index.js';
import { createTcpPair, TEST_PASSPHRASE, vanish } from './helpers.js';

// Both peers share one process and CI has 2 busy cores: a 1 s budget trips on event-loop stalls.
const IDLE_TIMEOUT_MS = 3_000;

/** Secured with a passphrase (the default of createTcpPair), and once more with `insecure: true`. */
for (const security of [{ passphrase: TEST_PASSPHRASE }, { insecure: true as const }]) {
  runConnectionSuite(
    `tcp over loopback, ${'insecure' in security ? 'insecure' : 'secured with a passphrase'}`,
    {
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      maxMessageBytes: 128 * 1024 * 1024,
      createPair: async () => {
        const { a, b } = await createTcpPair({
          ...security,
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
    },
  );
}
