import { runConnectionSuite } from '@antt/test-kit';
import { loopbackPair } from './helpers.js';

const IDLE_TIMEOUT_MS = 1_500;

runConnectionSuite('udp', {
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  createPair: async () => {
    const { a, b, endpointA, endpointB } = await loopbackPair({ idleTimeout: IDLE_TIMEOUT_MS });
    return {
      a,
      b,
      // A side that vanishes closes its socket without a word, as a machine that lost power.
      vanish: (side) => (side === a ? endpointA : endpointB).abandon(),
      cleanup: async () => {
        await Promise.all([endpointA.close(), endpointB.close()]);
      },
    };
  },
});
