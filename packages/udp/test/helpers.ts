import { UdpConnection, type UdpConnectionOptions, UdpEndpoint } from '../src/index.js';

export const LOOPBACK = '127.0.0.1';

/**
 * The security of tests that are not about security: a passphrase (scrypt runs once per test file, the
 * key is cached per process), so the secured path is what every test exercises.
 */
export const TEST_SECURITY = { passphrase: 'antt udp tests' } as const;

const SECURITY_KEYS = ['passphrase', 'allowedPeers', 'acceptAnyPeer', 'insecure'] as const;

/**
 * Two endpoints on loopback and a connection on each pointing at the other, not yet connected; secured
 * with {@link TEST_SECURITY} unless `options` say otherwise.
 */
export async function loopbackPair(
  given: Omit<UdpConnectionOptions, 'remote' | 'endpoint'> = {},
  host = LOOPBACK,
): Promise<{ a: UdpConnection; b: UdpConnection; endpointA: UdpEndpoint; endpointB: UdpEndpoint }> {
  const options = SECURITY_KEYS.some((key) => given[key] !== undefined)
    ? given
    : { ...TEST_SECURITY, ...given };
  const [endpointA, endpointB] = await Promise.all([UdpEndpoint.bind({ host }), UdpEndpoint.bind({ host })]);
  const a = new UdpConnection({
    ...options,
    endpoint: endpointA,
    remote: { host, port: endpointB.address!.port },
  });
  const b = new UdpConnection({
    ...options,
    endpoint: endpointB,
    remote: { host, port: endpointA.address!.port },
  });
  return { a, b, endpointA, endpointB };
}

/** The seed of a randomised test: ANTT_TEST_SEED replays one, otherwise a fresh one, printed. */
export function testSeed(name: string): number {
  const fromEnv = process.env.ANTT_TEST_SEED;
  const seed = fromEnv !== undefined ? Number(fromEnv) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  console.log(`[${name}] seed ${seed} (replay with ANTT_TEST_SEED=${seed})`);
  return seed;
}
