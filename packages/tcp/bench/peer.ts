/**
 * One side of a benchmark run, in its own process: `tsx bench/peer.ts '<json PeerPlan>'`. Prints one
 * `RESULT {...}` line with goodput (receiver), CPU seconds and peak RSS.
 */
import { once } from 'node:events';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { TcpConnection } from '../src/index.js';

export interface PeerPlan {
  /** antt: secured with a passphrase (the default cipher's records); antt-insecure: `insecure: true`. */
  mode: 'antt' | 'antt-insecure' | 'raw';
  side: 'send' | 'recv';
  localAddress?: string;
  localPort: number;
  remoteHost: string;
  remotePort: number;
  bytes: number;
  messageBytes: number;
  /** raw mode: 'listen' accepts one connection, 'connect' dials, 'simultaneous' dials from localPort and retries. */
  rawOpen?: 'listen' | 'connect' | 'simultaneous';
  connectTimeoutMs: number;
}

export interface PeerResult {
  side: 'send' | 'recv';
  bytes: number;
  seconds?: number;
  cpuSeconds: number;
  systemSeconds: number;
  peakRssMB: number;
  minorFaults: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as PeerPlan;
const cpuAtStart = process.cpuUsage();

function report(extra: { bytes: number; seconds?: number }): void {
  const cpu = process.cpuUsage(cpuAtStart);
  const result: PeerResult = {
    side: plan.side,
    ...extra,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    systemSeconds: cpu.system / 1e6,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    minorFaults: process.resourceUsage().minorPageFault,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

async function runAntt(): Promise<void> {
  const connection = new TcpConnection({
    localAddress: plan.localAddress,
    localPort: plan.localPort,
    remote: { host: plan.remoteHost, port: plan.remotePort },
    role: plan.side === 'send' ? 'client' : 'server',
    ...(plan.mode === 'antt-insecure' ? { insecure: true } : { passphrase: 'bench passphrase' }),
  });
  process.stdout.write('connecting\n');
  await connection.connect({ timeout: plan.connectTimeoutMs });
  process.stdout.write(`connected after ${connection.stats().connectAttempts} attempts\n`);
  if (plan.side === 'send') {
    const message = Buffer.alloc(plan.messageBytes, 0x5a);
    for (let sent = 0; sent < plan.bytes; sent += plan.messageBytes) await connection.send(message);
    await connection.close({ timeout: 60_000 });
    report({ bytes: plan.bytes });
    return;
  }
  let received = 0;
  let started = 0n;
  for await (const message of connection) {
    if (started === 0n) started = process.hrtime.bigint();
    received += message.byteLength;
    if (received >= plan.bytes) break;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Let the sender's CLOSE arrive so it finishes cleanly.
  await connection.close({ timeout: 10_000 }).catch(() => {});
  report({ bytes: received, seconds });
}

async function rawSocket(): Promise<Socket> {
  if (plan.rawOpen === 'listen') {
    const server = createServer();
    server.listen({ port: plan.localPort, host: plan.localAddress });
    await once(server, 'listening');
    process.stdout.write('listening\n');
    const [socket] = (await once(server, 'connection')) as [Socket];
    server.close();
    return socket;
  }
  const deadline = Date.now() + plan.connectTimeoutMs;
  for (;;) {
    const socket = netConnect({
      host: plan.remoteHost,
      port: plan.remotePort,
      ...(plan.rawOpen === 'simultaneous'
        ? { localPort: plan.localPort, localAddress: plan.localAddress }
        : {}),
    });
    try {
      await once(socket, 'connect');
      socket.setNoDelay(true);
      return socket;
    } catch (error) {
      socket.destroy();
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200));
    }
  }
}

async function runRaw(): Promise<void> {
  const socket = await rawSocket();
  process.stdout.write('connected\n');
  if (plan.side === 'send') {
    const chunk = Buffer.alloc(plan.messageBytes, 0x5a);
    for (let sent = 0; sent < plan.bytes; sent += plan.messageBytes) {
      if (!socket.write(chunk)) await once(socket, 'drain');
    }
    socket.end();
    await once(socket, 'close');
    report({ bytes: plan.bytes });
    return;
  }
  let received = 0;
  let started = 0n;
  let finished = 0n;
  socket.on('data', (chunk: Buffer) => {
    if (started === 0n) started = process.hrtime.bigint();
    received += chunk.length;
    if (received >= plan.bytes && finished === 0n) finished = process.hrtime.bigint();
  });
  await once(socket, 'end');
  socket.end();
  report({ bytes: received, seconds: Number(finished - started) / 1e9 });
}

(plan.mode === 'raw' ? runRaw() : runAntt()).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
