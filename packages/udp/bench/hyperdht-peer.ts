/**
 * The hyperdht rows of the benchmark: hyperswarm's encrypted stream (Noise + secret-stream over udx),
 * one side per process, speaking bench/peer.ts's protocol (bench/measure.ts) so bench/index.ts runs it
 * like the others:
 *   tsx bench/hyperdht-peer.ts receive hyperdht <bytes> <bindHost> <unused> [--bootstrap=<host:port>]
 *   tsx bench/hyperdht-peer.ts send hyperdht <bytes> <bindHost> <bootstrapHost> <bootstrapPort>
 *   tsx bench/hyperdht-peer.ts testnet hyperdht 0 <address>
 *
 * Without `--bootstrap` (loopback) the receiver starts a local testnet itself (`hyperdht/testnet`: 3 DHT
 * nodes in its own process, bound to `bindHost`) and a server told it is reachable (not firewalled),
 * so the two connect directly; its "ready" port is the testnet's bootstrap node. With `--bootstrap` (the
 * namespace lab, two hosts behind two NATs) the testnet runs in its own process on a public lab host
 * (`testnet`, which prints the bootstrap port and runs until its stdin closes), and the receiver's node
 * finds out for itself that it is behind a NAT, so connecting takes hyperdht's hole-punching path, as
 * for two peers at home. The server's key pair comes from a fixed seed; the sender bootstraps from the
 * testnet only (never a public bootstrap), derives the same public key and `dht.connect(publicKey)`s.
 * Goodput is measured at the receiver from the first to the last byte, as in the other rows; the
 * receiver answers one byte once it has everything, and both exit (no stream close handshake).
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { emit, finish, payload, peerArgs } from './measure.js';

const require = createRequire(import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: hyperdht ships no types
const DHT: any = require('hyperdht');
// biome-ignore lint/suspicious/noExplicitAny: hyperdht ships no types
const createTestnet: any = require('hyperdht/testnet');

const TESTNET_NODES = 3;
/**
 * The lab's testnet is larger: a node behind a NAT classifies it (consistent or random mapping, which
 * decides how hyperdht punches) from at least 3 DHT nodes' views of its address, and with 3 nodes it got
 * only 2 samples and aborted the hole punch.
 */
const LAB_TESTNET_NODES = 6;
const SEED = Buffer.alloc(32, 0xa7);
/** After the last byte, the receiver leaves its one-byte answer this long to leave before it exits. */
const ANSWER_GRACE_MS = 200;

const keyPair = DHT.keyPair(SEED);

async function testnet(address: string): Promise<void> {
  const net = await createTestnet(LAB_TESTNET_NODES, { host: address });
  emit({ event: 'ready', port: net.bootstrap[0].port });
  process.stdin.resume();
  process.stdin.once('end', () => process.exit(0));
}

async function receive(total: number, bindHost: string, bootstrapFlag: string | undefined): Promise<void> {
  const dhtHost = bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost;
  let dht: { createServer(onStream: unknown): { listen(keys: unknown): Promise<void> } };
  let bootstrapPort: number;
  let testnetNodes = LAB_TESTNET_NODES;
  if (bootstrapFlag) {
    const [host, port] = bootstrapFlag.split(':');
    bootstrapPort = Number(port);
    dht = new DHT({ bootstrap: [{ host, port: bootstrapPort }] });
  } else {
    const net = await createTestnet(TESTNET_NODES, { host: dhtHost });
    testnetNodes = TESTNET_NODES;
    bootstrapPort = net.bootstrap[0].port;
    // Reachable (not firewalled): the direct path. A firewalled server on loopback takes hyperdht's
    // hole-punching path, which timed out between two processes on one machine here.
    dht = new DHT({ bootstrap: net.bootstrap, host: dhtHost, firewalled: false, ephemeral: false });
  }
  let received = 0;
  let started = 0;
  let last = 0;
  const server = dht.createServer((stream: NodeJS.EventEmitter & { write(data: Uint8Array): boolean }) => {
    stream.on('data', (data: Uint8Array) => {
      last = performance.now();
      if (started === 0) started = last;
      received += data.byteLength;
      if (received >= total) {
        // One byte back tells the sender everything arrived (stream close handshakes hung between
        // two processes here); then this side reports, leaving the byte time to leave.
        stream.write(Uint8Array.of(1));
        setTimeout(() => finish(received, (last - started) / 1000, { testnetNodes }), ANSWER_GRACE_MS);
      }
    });
    stream.on('error', () => {});
  });
  await server.listen(keyPair);
  emit({ event: 'ready', port: bootstrapPort });
}

async function send(total: number, bindHost: string, bootstrapHost: string, bootstrapPort: number) {
  const dht = new DHT({
    bootstrap: [{ host: bootstrapHost, port: bootstrapPort }],
    // On loopback the DHT node binds 127.0.0.1 like the testnet; in the lab, every address of the host.
    ...(bootstrapHost === '127.0.0.1'
      ? { host: '127.0.0.1' }
      : bindHost === '0.0.0.0'
        ? {}
        : { host: bindHost }),
  });
  emit({ event: 'ready', port: 0 });
  const stream = dht.connect(keyPair.publicKey);
  stream.on('error', (error: Error) => {
    console.error(`hyperdht stream error: ${error.message}`);
    process.exit(1);
  });
  await new Promise((resolve) => stream.once('open', resolve));
  const chunk = payload();
  const started = performance.now();
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      sent += chunk.byteLength;
      if (!stream.write(chunk)) {
        stream.once('drain', pump);
        return;
      }
    }
    // The receiver answers one byte once it has every byte.
    stream.once('data', () =>
      finish(total, (performance.now() - started) / 1000, {
        remote: `${stream.rawStream.remoteHost}:${stream.rawStream.remotePort}`,
      }),
    );
  };
  pump();
}

if (process.argv[2] === 'testnet') await testnet(process.argv[5] ?? '127.0.0.1');
else {
  const { role, total, bindHost, remoteHost, remotePort } = peerArgs();
  const bootstrap = process.argv.find((a) => a.startsWith('--bootstrap='))?.slice('--bootstrap='.length);
  if (role === 'receive') await receive(total, bindHost, bootstrap);
  else await send(total, bindHost, remoteHost, remotePort);
}
