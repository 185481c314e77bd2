/**
 * The hyperdht row of the benchmark: hyperswarm's encrypted stream (Noise + secret-stream over udx),
 * one side per process, speaking bench/peer.ts's protocol so bench/index.ts runs it like the others:
 *   tsx bench/hyperdht-peer.ts receive hyperdht <bytes> <bindHost> <unused>
 *   tsx bench/hyperdht-peer.ts send hyperdht <bytes> <bindHost> <receiverHost> <port>
 * The receiver starts a local testnet (`hyperdht/testnet`: 3 DHT nodes in its own process, bound to
 * `bindHost`) and a server (`dht.createServer()`) whose key pair comes from a fixed seed; its "ready" port
 * is the testnet's bootstrap node. The sender bootstraps from that node only (never a public bootstrap),
 * derives the same public key and `dht.connect(publicKey)`s. Goodput is measured at the receiver from the
 * first to the last byte, as in the other rows; the idle testnet's CPU is charged to the receiver. The
 * receiver answers one byte once it has everything, and both exit (no stream close handshake).
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: hyperdht ships no types
const DHT: any = require('hyperdht');
// biome-ignore lint/suspicious/noExplicitAny: hyperdht ships no types
const createTestnet: any = require('hyperdht/testnet');

const CHUNK_BYTES = 64 * 1024;
const TESTNET_NODES = 3;
const SEED = Buffer.alloc(32, 0xa7);

const [role, , bytesText, bindHost = '127.0.0.1', remoteHost = '127.0.0.1', portText] = process.argv.slice(2);
const total = Number(bytesText);
const dhtHost = bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost;
let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 50);

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function finish(bytes: number, seconds: number, extra: Record<string, unknown> = {}): never {
  clearInterval(rssTimer);
  const cpu = process.cpuUsage();
  peakRss = Math.max(peakRss, process.memoryUsage.rss(), process.resourceUsage().maxRSS * 1024);
  emit({
    event: 'done',
    bytes,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMb: peakRss / 2 ** 20,
    ...extra,
  });
  process.exit(0);
}

const keyPair = DHT.keyPair(SEED);

if (role === 'receive') {
  const testnet = await createTestnet(TESTNET_NODES, { host: dhtHost });
  // A reachable (not firewalled) server: the direct path, as for the other rows. A firewalled server on
  // loopback takes hyperdht's hole-punching path, which timed out between two processes here.
  const dht = new DHT({ bootstrap: testnet.bootstrap, host: dhtHost, firewalled: false, ephemeral: false });
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
        setTimeout(() => finish(received, (last - started) / 1000, { testnetNodes: TESTNET_NODES }), 200);
      }
    });
    stream.on('error', () => {});
  });
  await server.listen(keyPair);
  emit({ event: 'ready', port: testnet.bootstrap[0].port });
} else {
  const dht = new DHT({ bootstrap: [{ host: remoteHost, port: Number(portText) }], host: dhtHost });
  emit({ event: 'ready', port: 0 });
  const stream = dht.connect(keyPair.publicKey);
  stream.on('error', (error: Error) => {
    console.error(`hyperdht stream error: ${error.message}`);
    process.exit(1);
  });
  await new Promise((resolve) => stream.once('open', resolve));
  const chunk = new Uint8Array(CHUNK_BYTES);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
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
