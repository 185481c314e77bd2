/**
 * One side of a benchmark transfer, run as its own process by bench/index.ts:
 *   tsx bench/peer.ts <receive|send> <antt|antt1200|antt-insecure|antt1200-insecure|tcp|udx|raw> <bytes> <bindHost> <remoteHost> [port] [--connect-back]
 * `remoteHost` is the receiver's address for the sender, and for the receiver the address the sender
 * appears from (only udx, which has no handshake, needs it).
 * With `--connect-back` the Antt receiver connects to the sender (whose port it reads from stdin) instead
 * of accepting: both sides connect, as through two NATs. It prints JSON lines (bench/measure.ts):
 * {"event":"ready","port":N} once listening, and {"event":"done",...} at the end with the bytes moved,
 * the elapsed seconds, CPU seconds and peak RSS of this process.
 */
import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';
import { createConnection, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { UdpEndpoint } from '../src/index.js';
import { emit, finish, payload, peerArgs, readLine } from './measure.js';

const RAW_DATAGRAM_BYTES = 1200;
/** The raw receiver stops this long after the last datagram. */
const RAW_QUIET_MS = 1_000;

const { role, kind, total, bindHost, remoteHost, remotePort, connectBack } = peerArgs();

/**
 * Antt/UDP with its defaults (path MTU discovery on), or fixed at 1200-byte datagrams (`antt1200*`);
 * encrypted with a passphrase, or `insecure: true` for the `-insecure` rows.
 */
async function antt(): Promise<void> {
  const security = kind?.endsWith('-insecure')
    ? { insecure: true as const }
    : { passphrase: 'antt udp benchmark' };
  const options = { host: bindHost, port: 0, mtuProbing: !kind?.startsWith('antt1200'), ...security };
  if (role === 'receive') {
    const endpoint = await UdpEndpoint.bind(options);
    let connection: Awaited<ReturnType<typeof endpoint.accept>>;
    if (connectBack) {
      // Through two NATs: both sides connect to each other (hole punching), the receiver once it knows
      // the port the sender's NAT kept.
      emit({ event: 'ready', port: endpoint.address!.port });
      connection = await endpoint.connect({ host: remoteHost, port: Number(await readLine()) });
    } else {
      endpoint.listen();
      emit({ event: 'ready', port: endpoint.address!.port });
      connection = await endpoint.accept();
    }
    let received = 0;
    let started = 0;
    let last = 0;
    // Until the sender closes: its close() waits for this side to acknowledge everything.
    for await (const message of connection) {
      last = performance.now();
      if (started === 0) started = last;
      received += message.byteLength;
    }
    finish(received, (last - started) / 1000, connection.stats());
  } else {
    const endpoint = await UdpEndpoint.bind(options);
    emit({ event: 'ready', port: endpoint.address!.port });
    const connection = await endpoint.connect({ host: remoteHost, port: remotePort });
    const chunk = payload();
    const started = performance.now();
    for (let sent = 0; sent < total; sent += chunk.byteLength) await connection.send(chunk);
    await connection.close({ timeout: 60_000 });
    finish(total, (performance.now() - started) / 1000, connection.stats());
  }
}

async function tcp(): Promise<void> {
  if (role === 'receive') {
    const server = createServer((socket) => {
      let received = 0;
      let started = 0;
      socket.on('data', (data) => {
        if (started === 0) started = performance.now();
        received += data.byteLength;
        if (received >= total) finish(received, (performance.now() - started) / 1000);
      });
    });
    server.listen(0, bindHost, () => {
      const address = server.address();
      emit({ event: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
    });
  } else {
    emit({ event: 'ready', port: 0 });
    const socket = createConnection({ host: remoteHost, port: remotePort });
    await new Promise((resolve) => socket.once('connect', resolve));
    const chunk = payload();
    const started = performance.now();
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += chunk.byteLength;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end(() => finish(total, (performance.now() - started) / 1000));
    };
    pump();
  }
}

async function udx(): Promise<void> {
  const UDX = createRequire(import.meta.url)('udx-native');
  const u = new UDX();
  const socket = u.createSocket();
  socket.bind(0, bindHost);
  emit({ event: 'ready', port: socket.address().port });
  if (role === 'receive') {
    const senderPort = Number(await readLine());
    const stream = u.createStream(2);
    stream.connect(socket, 1, senderPort, remoteHost);
    let received = 0;
    let started = 0;
    let last = 0;
    stream.on('data', (data: Uint8Array) => {
      last = performance.now();
      if (started === 0) started = last;
      received += data.byteLength;
    });
    // The sender's end() arrives after its last byte; answering it lets both streams close.
    stream.on('end', () => stream.end());
    stream.on('close', () => finish(received, (last - started) / 1000));
  } else {
    const stream = u.createStream(1);
    stream.connect(socket, 2, remotePort, remoteHost);
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
      stream.end();
      // 'finish' only means written; 'close' comes once the receiver has everything and ended too.
      stream.on('data', () => {});
      stream.once('close', () => finish(total, (performance.now() - started) / 1000));
    };
    pump();
  }
}

async function raw(): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, bindHost, resolve));
  try {
    socket.setRecvBufferSize(4 * 2 ** 20);
    socket.setSendBufferSize(4 * 2 ** 20);
  } catch {}
  emit({ event: 'ready', port: socket.address().port });
  if (role === 'receive') {
    let received = 0;
    let started = 0;
    let last = 0;
    socket.on('message', (datagram) => {
      last = performance.now();
      if (started === 0) started = last;
      received += datagram.byteLength;
    });
    const check = setInterval(() => {
      if (started !== 0 && performance.now() - last > RAW_QUIET_MS) {
        clearInterval(check);
        finish(received, (last - started) / 1000, { arrivedShare: received / total });
      }
    }, 100);
  } else {
    // A connected socket is plain dgram's fastest path (no address per send).
    await new Promise<void>((resolve) => socket.connect(remotePort, remoteHost, resolve));
    const datagram = new Uint8Array(RAW_DATAGRAM_BYTES);
    const count = Math.ceil(total / RAW_DATAGRAM_BYTES);
    const started = performance.now();
    let sent = 0;
    let pending = 0;
    // As fast as the socket takes them: a bounded number in libuv's queue, refilled as sends complete.
    const onSent = (): void => {
      pending--;
      if (sent < count && pending < 256) blast();
      else if (sent >= count && pending === 0) finish(total, (performance.now() - started) / 1000);
    };
    const blast = (): void => {
      while (sent < count && pending < 512) {
        pending++;
        sent++;
        socket.send(datagram, onSent);
      }
    };
    blast();
  }
}

const run = {
  antt,
  antt1200: antt,
  'antt-insecure': antt,
  'antt1200-insecure': antt,
  tcp,
  udx,
  raw,
}[kind as 'antt'];
if (!run) throw new Error(`unknown transport ${kind}`);
await run();
