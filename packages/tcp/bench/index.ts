/**
 * `pnpm bench` (`--quick`: 256 MiB only): bulk goodput of @antt/tcp against raw node:net on the same
 * path in the same run, each side in its own process, with CPU seconds and peak RSS per side.
 * Paths: loopback always; two hosts behind two endpoint-independent NATs in the namespace lab when this
 * runs as root on Linux with the lab tools.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SealingKey } from '@antt/secure';
import type { PeerPlan, PeerResult } from './peer.js';

const MiB = 1024 * 1024;
const MESSAGE_BYTES = MiB;
const CONNECT_TIMEOUT_MS = 20_000;
const RUN_TIMEOUT_MS = 180_000;
/** The first @antt/tcp side is refused and listening by the time the second starts. */
const FIRST_SIDE_LEAD_MS = 300;
const PEER = fileURLToPath(new URL('./peer.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

interface Running {
  /** Resolves with the RESULT line's payload; rejects with the process's stderr if it fails. */
  result: Promise<PeerResult>;
  waitFor(text: string): Promise<void>;
}

type Launcher = (plan: PeerPlan) => Running;

const TRANSPORTS = ['node:net', '@antt/tcp', '@antt/tcp insecure'] as const;
type Transport = (typeof TRANSPORTS)[number];
const MODES: Record<Transport, PeerPlan['mode']> = {
  'node:net': 'raw',
  '@antt/tcp': 'antt',
  '@antt/tcp insecure': 'antt-insecure',
};

interface Row {
  path: string;
  bytes: number;
  transport: Transport;
  send: PeerResult;
  recv: PeerResult;
}

/** Runs per configuration, alternating node:net and @antt/tcp; the table shows the median by goodput. */
const REPETITIONS = 3;
const quick = process.argv.includes('--quick');
const sizes = quick ? [256 * MiB] : [256 * MiB, 1024 * MiB];

function launchLocal(plan: PeerPlan): Running {
  const child = spawn(process.execPath, ['--import', TSX, PEER, JSON.stringify(plan)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child.stdout, child.stderr, new Promise((resolve) => child.on('close', resolve)), () =>
    child.kill('SIGKILL'),
  );
}

function watch(
  stdout: NodeJS.ReadableStream,
  stderr: NodeJS.ReadableStream,
  exited: Promise<unknown>,
  kill: () => void,
): Running {
  let out = '';
  let err = '';
  const waiters: { text: string; resolve(): void }[] = [];
  stdout.setEncoding('utf8');
  stderr.setEncoding('utf8');
  stdout.on('data', (chunk: string) => {
    out += chunk;
    for (const waiter of waiters.filter((w) => out.includes(w.text))) waiter.resolve();
  });
  stderr.on('data', (chunk: string) => {
    err += chunk;
  });
  const timer = setTimeout(kill, RUN_TIMEOUT_MS);
  const result = exited.then(() => {
    clearTimeout(timer);
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`benchmark peer failed: ${err.trim() || out.trim() || 'no output'}`);
    return JSON.parse(line.slice('RESULT '.length)) as PeerResult;
  });
  return {
    result,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve();
        waiters.push({ text, resolve });
        result.then(() => reject(new Error(`peer exited before printing "${text}"`)), reject);
      }),
  };
}

let nextPort = 20_000 + Math.floor(Math.random() * 10_000);
function ports(): [number, number] {
  nextPort += 2;
  return [nextPort, nextPort + 1];
}

interface PathSpec {
  name: string;
  launchSender: Launcher;
  launchReceiver: Launcher;
  senderAddress: string;
  receiverAddress: string;
  /** How the raw node:net baseline opens its connection on this path. */
  raw: 'listen' | 'simultaneous';
  /**
   * Which @antt/tcp side starts first. On loopback the first one is refused and listens, so the later
   * one dials into its listener: the receiver's socket is then an accepted one (first: 'recv') or an
   * outgoing one (first: 'send'). Through the NATs both dial (undefined: start both at once).
   */
  first?: 'recv' | 'send';
}

async function runOnce(path: PathSpec, bytes: number, transport: Row['transport']): Promise<Row> {
  const [sendPort, recvPort] = ports();
  const common = { bytes, messageBytes: MESSAGE_BYTES, connectTimeoutMs: CONNECT_TIMEOUT_MS };
  const mode = MODES[transport];
  const recvPlan: PeerPlan = {
    ...common,
    mode,
    side: 'recv',
    localPort: recvPort,
    remoteHost: path.senderAddress,
    remotePort: sendPort,
    rawOpen: path.raw === 'listen' ? 'listen' : 'simultaneous',
  };
  const sendPlan: PeerPlan = {
    ...common,
    mode,
    side: 'send',
    localPort: sendPort,
    remoteHost: path.receiverAddress,
    remotePort: recvPort,
    rawOpen: path.raw === 'listen' ? 'connect' : 'simultaneous',
  };
  let sender: Running;
  let receiver: Running;
  if (mode === 'raw' && path.raw === 'listen') {
    receiver = path.launchReceiver(recvPlan);
    await receiver.waitFor('listening');
    sender = path.launchSender(sendPlan);
  } else if (mode !== 'raw' && path.first === 'send') {
    sender = path.launchSender(sendPlan);
    await sender.waitFor('connecting');
    await new Promise((resolve) => setTimeout(resolve, FIRST_SIDE_LEAD_MS));
    receiver = path.launchReceiver(recvPlan);
  } else if (mode !== 'raw' && path.first === 'recv') {
    receiver = path.launchReceiver(recvPlan);
    await receiver.waitFor('connecting');
    await new Promise((resolve) => setTimeout(resolve, FIRST_SIDE_LEAD_MS));
    sender = path.launchSender(sendPlan);
  } else {
    receiver = path.launchReceiver(recvPlan);
    sender = path.launchSender(sendPlan);
  }
  const [send, recv] = await Promise.all([sender.result, receiver.result]);
  if (recv.bytes < bytes) throw new Error(`receiver got ${recv.bytes} of ${bytes} bytes`);
  return { path: path.name, bytes, transport, send, recv };
}

function median(runs: Row[]): Row {
  const sorted = [...runs].sort((x, y) => goodputMBps(x) - goodputMBps(y));
  const middle = sorted[Math.floor(sorted.length / 2)]!;
  // Peak RSS is the worst of all runs: a bound, not a typical value.
  const worst = (side: 'send' | 'recv'): number => Math.max(...runs.map((r) => r[side].peakRssMB));
  return {
    ...middle,
    send: { ...middle.send, peakRssMB: worst('send') },
    recv: { ...middle.recv, peakRssMB: worst('recv') },
  };
}

function goodputMBps(row: Row): number {
  return row.bytes / MiB / (row.recv.seconds ?? Number.NaN);
}

function printTable(rows: Row[]): void {
  const header = [
    'path',
    'size',
    'transport',
    'goodput MiB/s',
    'vs node:net',
    'CPU s send/recv',
    'peak RSS MB send/recv',
  ];
  const lines = rows.map((row) => {
    const raw = rows.find((r) => r.path === row.path && r.bytes === row.bytes && r.transport === 'node:net');
    const ratio = raw ? goodputMBps(row) / goodputMBps(raw) : Number.NaN;
    return [
      row.path,
      `${row.bytes / MiB} MiB`,
      row.transport,
      goodputMBps(row).toFixed(0),
      `${ratio.toFixed(2)}x`,
      `${row.send.cpuSeconds.toFixed(2)} / ${row.recv.cpuSeconds.toFixed(2)}`,
      `${row.send.peakRssMB.toFixed(0)} / ${row.recv.peakRssMB.toFixed(0)}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(format(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const line of lines) console.log(format(line));
}

async function labPath(): Promise<{ path: PathSpec; destroy(): Promise<void> } | string> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not running as root on Linux';
  let kit: typeof import('@antt/test-kit');
  try {
    kit = await import('@antt/test-kit');
  } catch (error) {
    return `the lab helpers could not be loaded (${(error as Error).message})`;
  }
  const availability = await kit.labAvailability();
  if (!availability.available) return availability.reason;
  const lab = await kit.createLab({ name: 'tcp-bench' });
  try {
    const natA = await lab.addRouter('natA', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const natB = await lab.addRouter('natB', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const a = await lab.addHost('a', { behind: natA });
    const b = await lab.addHost('b', { behind: natB });
    const launcher =
      (host: typeof a): Launcher =>
      (plan) => {
        const child = host.spawnNode(PEER, [JSON.stringify(plan)], { timeoutMs: RUN_TIMEOUT_MS });
        return watch(child.child.stdout, child.child.stderr, child.exited, () => child.kill('SIGKILL'));
      };
    return {
      path: {
        name: 'lab: 2 NATs',
        launchSender: launcher(a),
        launchReceiver: launcher(b),
        senderAddress: natA.publicAddress,
        receiverAddress: natB.publicAddress,
        raw: 'simultaneous',
      },
      destroy: () => lab.destroy(),
    };
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}

/** The records' cipher (@antt/tcp asks for AES-256-GCM) and the library sealing them in these processes. */
function cipherLabel(): string {
  return `AES-256-GCM on ${new SealingKey('AESGCM', new Uint8Array(32)).backend}`;
}

async function main(): Promise<void> {
  const congestion = readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
  console.log(
    `@antt/tcp bench: Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ` +
      `kernel congestion control ${congestion}, ${MESSAGE_BYTES / MiB} MiB messages/writes, both sides under tsx; ` +
      `@antt/tcp is secured with a passphrase (${cipherLabel()} records), @antt/tcp insecure has insecure: true`,
  );
  const loopback = {
    launchSender: launchLocal,
    launchReceiver: launchLocal,
    senderAddress: '127.0.0.1',
    receiverAddress: '127.0.0.1',
    raw: 'listen',
  } as const;
  const paths: PathSpec[] = [
    { ...loopback, name: 'loopback, receiver accepted', first: 'recv' },
    { ...loopback, name: 'loopback, receiver dialled', first: 'send' },
  ];
  const lab = await labPath();
  if (typeof lab === 'string') console.log(`lab path skipped: ${lab}`);
  else paths.push(lab.path);
  const rows: Row[] = [];
  try {
    for (const path of paths) {
      for (const bytes of sizes) {
        const runs: Record<Transport, Row[]> = { 'node:net': [], '@antt/tcp': [], '@antt/tcp insecure': [] };
        for (let i = 0; i < REPETITIONS; i++) {
          for (const transport of TRANSPORTS) {
            const row = await runOnce(path, bytes, transport);
            runs[transport].push(row);
            console.log(
              `  ${path.name} ${bytes / MiB} MiB ${transport} run ${i + 1}: ${goodputMBps(row).toFixed(0)} MiB/s, ` +
                `CPU ${row.send.cpuSeconds.toFixed(2)}/${row.recv.cpuSeconds.toFixed(2)} s, ` +
                `RSS ${row.send.peakRssMB.toFixed(0)}/${row.recv.peakRssMB.toFixed(0)} MB`,
            );
          }
        }
        rows.push(...TRANSPORTS.map((transport) => median(runs[transport])));
      }
    }
  } finally {
    if (typeof lab !== 'string') await lab.destroy();
  }
  console.log();
  console.log(`median of ${REPETITIONS} runs by goodput (CPU from that run); peak RSS is the worst run's`);
  printTable(rows);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
