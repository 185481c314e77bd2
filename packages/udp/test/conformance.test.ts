import { runConnectionSuite } from '@antt/test-kit';
import { loopbackPair } from './helpers.js';

/** At least 3 s: a loaded CI machine must not trip it while the suite checks something else. */
const IDLE_TIMEOUT_MS = 3_000;

for (const [name, security] of [
  ['udp (passphrase)', { passphrase: 'antt udp conformance' }],
  ['udp (insecure)', { insecure: true }],
] as const) {
  runConnectionSuite(name, {
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    createPair: async () => {
      const { a, b, endpointA, endpointB } = await loopbackPair({
        idleTimeout: IDLE_TIMEOUT_MS,
        ...security,
      });
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
}
