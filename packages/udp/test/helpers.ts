import { UdpConnection, type UdpConnectionOptions, UdpEndpoint } from '../src/index.js';

export const LOOPBACK = '127.0.0.1';

/** Two endpoints on loopback and a connection on each pointing at the other, not yet connected. */
export async function loopbackPair(
  options: Omit<UdpConnectionOptions, 'remote' | 'endpoint'> = {},
  host = LOOPBACK,
): Promise<{ a: UdpConnection; b: UdpConnection; endpointA: UdpEndpoint; endpointB: UdpEndpoint }> {
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
