import { createServer } from 'node:net';
import { TcpConnection, type TcpConnectionOptions } from '../src/index.js';
import { goSilent } from '../src/tcp-connection.js';

/** Ports below Linux's ephemeral range (32768+), so outgoing connections of other tests never take them. */
const PORT_MIN = 20_000;
const PORT_MAX = 32_000;

/** A port nothing on this machine listens on or is bound to right now, for `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN));
    if (await canListen(port, host)) return port;
  }
  throw new Error('no free port found in 50 tries');
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Tests connect with this passphrase unless they say otherwise (scrypt runs once per test file). */
export const TEST_PASSPHRASE = 'correct horse battery staple';

export interface PairOptions extends Partial<TcpConnectionOptions> {
  host?: string;
}

/** The default security of test connections: a passphrase, unless `options` chose something. */
export function withSecurity<T extends Partial<TcpConnectionOptions>>(options: T): T {
  const chosen =
    options.passphrase !== undefined ||
    options.allowedPeers !== undefined ||
    options.acceptAnyPeer !== undefined ||
    options.insecure !== undefined;
  return chosen ? options : { ...options, passphrase: TEST_PASSPHRASE };
}

/**
 * Two TcpConnections pointed at each other on `host` (loopback by default), not yet connected; secured
 * with {@link TEST_PASSPHRASE} unless `options` choose another security option.
 */
export async function createTcpPair(
  options: PairOptions = {},
): Promise<{ a: TcpConnection; b: TcpConnection }> {
  const host = options.host ?? '127.0.0.1';
  const portA = await freePort(host);
  let portB = await freePort(host);
  while (portB === portA) portB = await freePort(host);
  const { host: _host, ...rest } = withSecurity(options);
  const a = new TcpConnection({
    ...rest,
    localAddress: host,
    localPort: portA,
    remote: { host, port: portB },
    role: 'client',
  });
  const b = new TcpConnection({
    ...rest,
    localAddress: host,
    localPort: portB,
    remote: { host, port: portA },
    role: 'server',
  });
  return { a, b };
}

export function vanish(connection: TcpConnection): void {
  connection[goSilent]();
}
