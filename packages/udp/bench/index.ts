/**
 * `pnpm bench` (add `--quick` for 256 MiB instead of 1 GiB, `--no-lab` for loopback only,
 * `--only=antt,udx` for some transports, `--two-nats-only` for the lab's two-NAT rows, hyperdht against
 * encrypted Antt/UDP): one process sends to another, for each
 * transport in the same run, and the table compares them. Antt/UDP is measured against node:net TCP (the
 * kernel's congestion control is named), udx-native, and the raw limit: a plain dgram blast of 1200-byte
 * datagrams one way (what arrived is counted). Loopback always; the namespace lab rows run when this
 * process is root and the test kit's lab helpers are available, and are reported as skipped otherwise.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadNative, nativeUnavailableReason } from '@antt/native';
import { defaultCipher, SealingKey } from '@antt/secure';
import { next, peer } from './spawn-peer.js';

const MiB = 2 ** 20;
const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const sizes = quick ? [256 * MiB] : [256 * MiB, 1024 * MiB];
const kinds = (only ?? [
  'raw',
  'tcp',
  'udx',
  'antt1200-insecure',
  'antt1200',
  'antt-insecure',
  'antt',
  'hyperdht',
]) as Kind[];
/** `antt*` rows are encrypted (passphrase); `-insecure` rows the same with `insecure: true`. */
export type Kind =
  | 'raw'
  | 'tcp'
  | 'udx'
  | 'antt'
  | 'antt1200'
  | 'antt-insecure'
  | 'antt1200-insecure'
  | 'hyperdht';
/** A transfer that has not finished after this long is stopped and reported as such. */
const TRANSFER_TIMEOUT_MS = 120_000;

interface Side {
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  arrivedShare?: number;
  [extra: string]: unknown;
}

export interface Result {
  kind: Kind;
  path: string;
  total: number;
  sender: Side;
  receiver: Side;
  goodputMBps: number;
  /** The link's rate cap in bytes per second, for rows measured under one. */
  capBytesPerSecond?: number;
  /** Why the transfer did not complete, if it did not. */
  failed?: string;
}

export interface TransferOptions {
  /** Address the receiver binds. */
  receiverHost: string;
  /** Where the sender sends (default: receiverHost). */
  senderTarget?: string;
  /** Where the sender appears from, as the receiver sees it (udx needs it; default: receiverHost). */
  senderSeenAs?: string;
  path: string;
  receiverNs?: string;
  senderNs?: string;
  capBytesPerSecond?: number;
  /** Both sides connect (through two NATs): the receiver learns the sender's port on its stdin. */
  connectBack?: boolean;
  /** Extra arguments for the receiver (hyperdht: `--bootstrap=host:port`). */
  receiverArgs?: string[];
}

export async function transfer(kind: Kind, total: number, options: TransferOptions): Promise<Result> {
  const senderTarget = options.senderTarget ?? options.receiverHost;
  const receiver = peer(
    [
      'receive',
      kind,
      String(total),
      options.receiverHost,
      options.senderSeenAs ?? options.receiverHost,
      ...(options.connectBack ? ['--connect-back'] : []),
      ...(options.receiverArgs ?? []),
    ],
    options.receiverNs,
  );
  let sender: ReturnType<typeof peer> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`did not finish in ${TRANSFER_TIMEOUT_MS / 1000} s`)),
      TRANSFER_TIMEOUT_MS,
    );
  });
  try {
    const run = async (): Promise<Result> => {
      const ready = await next(receiver.lines);
      sender = peer(
        ['send', kind, String(total), '0.0.0.0', senderTarget, String(ready.port)],
        options.senderNs,
      );
      const senderReady = await next(sender.lines);
      if (kind === 'udx' || options.connectBack) receiver.write(String(senderReady.port));
      const [receiverDone, senderDone] = await Promise.all([next(receiver.lines), next(sender.lines)]);
      await Promise.all([receiver.done, sender.done]);
      const r = receiverDone as unknown as Side;
      return {
        kind,
        path: options.path,
        total,
        sender: senderDone as unknown as Side,
        receiver: r,
        goodputMBps: r.bytes / MiB / r.seconds,
        capBytesPerSecond: options.capBytesPerSecond,
      };
    };
    return await Promise.race([run(), timedOut]);
  } catch (error) {
    receiver.kill();
    sender?.kill();
    const empty: Side = { bytes: 0, seconds: 0, cpuSeconds: Number.NaN, peakRssMb: Number.NaN };
    return {
      kind,
      path: options.path,
      total,
      sender: empty,
      receiver: empty,
      goodputMBps: 0,
      capBytesPerSecond: options.capBytesPerSecond,
      failed: (error as Error).message,
    };
  } finally {
    clearTimeout(timer);
  }
}

function kernelCongestionControl(): string {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

const LABELS: Record<Kind, string> = {
  raw: 'raw dgram blast (1200 B)',
  tcp: `node:net TCP (${kernelCongestionControl()})`,
  udx: 'udx-native',
  'antt1200-insecure': 'Antt/UDP insecure, 1200 B fixed',
  antt1200: 'Antt/UDP encrypted, 1200 B fixed',
  'antt-insecure': 'Antt/UDP insecure (MTU discovery)',
  antt: 'Antt/UDP encrypted (MTU discovery)',
  hyperdht: 'hyperdht encrypted stream (local testnet)',
};

export function printTable(results: Result[]): void {
  const header = [
    'path',
    'transport',
    'size',
    'goodput MiB/s',
    'vs raw',
    'vs udx',
    'of cap',
    'CPU s send/recv',
    'peak RSS MB send/recv',
  ];
  const rows = results.map((r) => {
    const raw = results.find((x) => x.kind === 'raw' && x.path === r.path && x.total === r.total);
    const udx = results.find((x) => x.kind === 'udx' && x.path === r.path && x.total === r.total);
    const ratio = (base: Result | undefined): string =>
      base ? `${(r.goodputMBps / base.goodputMBps).toFixed(2)}x` : '-';
    return [
      r.path,
      LABELS[r.kind] +
        (r.kind === 'raw' ? ` ${(100 * (r.receiver.arrivedShare ?? 1)).toFixed(1)}% arrived` : ''),
      `${r.total / MiB} MiB`,
      r.failed ? `failed: ${r.failed}` : r.goodputMBps.toFixed(1),
      ratio(raw),
      ratio(udx),
      r.capBytesPerSecond ? `${((100 * r.goodputMBps * MiB) / r.capBytesPerSecond).toFixed(0)}%` : '-',
      `${r.sender.cpuSeconds.toFixed(2)} / ${r.receiver.cpuSeconds.toFixed(2)}`,
      `${r.sender.peakRssMb.toFixed(0)} / ${r.receiver.peakRssMb.toFixed(0)}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

/** The default cipher and the library sealing it in these processes. */
function cipherLabel(): string {
  const cipher = defaultCipher();
  const name = cipher === 'ChaChaPoly' ? 'ChaCha20-Poly1305' : 'AES-256-GCM';
  return `${name} on ${new SealingKey(cipher, new Uint8Array(32)).backend}`;
}

/** Whether the endpoints send bursts with sendmmsg/GSO (the @antt/native addon), and if not why. */
function batchLabel(): string {
  if (process.env.ANTT_NATIVE === '0') return 'no (ANTT_NATIVE=0)';
  if (typeof loadNative()?.sendBatch === 'function') return 'sendmmsg + UDP GSO (@antt/native)';
  return `no (${nativeUnavailableReason() || 'not Linux'})`;
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const labOnly = process.argv.includes('--lab-only') || process.argv.includes('--two-nats-only');
  for (const total of labOnly ? [] : sizes) {
    for (const kind of kinds) {
      process.stderr.write(`loopback ${kind} ${total / MiB} MiB ...\n`);
      results.push(await transfer(kind, total, { receiverHost: '127.0.0.1', path: 'loopback' }));
    }
  }
  if (process.argv.includes('--no-lab')) console.log('lab rows skipped: --no-lab');
  else {
    const { labRows } = await import('./lab.js');
    // hyperdht runs on loopback and on the lab's two-NAT path (against encrypted Antt/UDP there).
    results.push(...(await labRows({ quick, kinds, transfer })));
  }
  console.log(
    `\nAntt/UDP benchmark, ${new Date().toISOString()}, node ${process.version}, ${quick ? 'quick' : 'full'}, ` +
      `encrypted rows sealed with ${cipherLabel()}; sends batched: ${batchLabel()}`,
  );
  printTable(results);
  for (const h of results.filter((r) => r.kind === 'hyperdht' && !r.failed)) {
    for (const kind of ['antt', 'antt1200'] as const) {
      const a = results.find((r) => r.kind === kind && r.path === h.path && r.total === h.total && !r.failed);
      if (a) {
        const ratio = (a.goodputMBps / h.goodputMBps).toFixed(2);
        console.log(`${h.path} ${h.total / MiB} MiB: ${LABELS[kind]} / hyperdht = ${ratio}x`);
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
