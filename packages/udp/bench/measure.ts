/**
 * What every benchmark peer process shares (bench/peer.ts, bench/hyperdht-peer.ts): its command line, the
 * JSON lines it prints for bench/index.ts, the payload it sends, and how it measures itself (CPU seconds
 * since the process started, peak RSS sampled while it runs).
 *
 *   <role: receive|send> <kind> <bytes> <bindHost> <remoteHost> [port] [--connect-back]
 */
import { createInterface } from 'node:readline';

/** Size of each message or write. */
export const CHUNK_BYTES = 64 * 1024;
const RSS_SAMPLE_MS = 50;

export interface PeerArgs {
  role: 'receive' | 'send';
  kind: string;
  /** Bytes to move. */
  total: number;
  bindHost: string;
  /** The receiver's address for the sender; for the receiver, where the sender appears from. */
  remoteHost: string;
  remotePort: number;
  /**
   * The receiver connects to the sender too (simultaneous open through two NATs) once bench/index.ts
   * writes the sender's port to its stdin.
   */
  connectBack: boolean;
}

export function peerArgs(argv: string[] = process.argv.slice(2)): PeerArgs {
  const flags = argv.filter((a) => a.startsWith('--'));
  const [role, kind = '', bytesText, bindHost = '127.0.0.1', remoteHost = '127.0.0.1', portText] =
    argv.filter((a) => !a.startsWith('--'));
  if (role !== 'receive' && role !== 'send') throw new Error(`unknown role ${role}: receive or send`);
  return {
    role,
    kind,
    total: Number(bytesText),
    bindHost,
    remoteHost,
    remotePort: Number(portText),
    connectBack: flags.includes('--connect-back'),
  };
}

let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, RSS_SAMPLE_MS);
rssTimer.unref();

export function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** Prints the "done" line with this process's measurements and exits. */
export function finish(bytes: number, seconds: number, extra: Record<string, unknown> = {}): never {
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

/** The message every sender sends: {@link CHUNK_BYTES} of a fixed pattern. */
export function payload(): Uint8Array {
  const chunk = new Uint8Array(CHUNK_BYTES);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  return chunk;
}

/** The first line bench/index.ts writes to this process's stdin. */
export function readLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  return new Promise((resolve) =>
    lines.once('line', (line) => {
      lines.close();
      resolve(line);
    }),
  );
}
