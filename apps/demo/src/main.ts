#!/usr/bin/env node
/**
 * `pnpm demo`: two Antt peers on this machine, each its own process, meet through a rendezvous server
 * the demo starts on loopback (by a meeting name, knowing nothing of each other's ports), send a
 * generated file over encrypted UDP and then TCP; the receiver checks its SHA-256; a table compares
 * the transports.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatAddress } from '@antt/core';
import { RendezvousServer } from '@antt/nat';
import { type DemoOptions, helpText, PROGRAM, parseDemoArgs, UsageError } from './options.js';
import type { PeerReport, PeerTask } from './protocol.js';
import { formatTable, type TransportResult } from './report.js';

const GENERATE_BLOCK_BYTES = 4 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 20_000;
/** A transfer slower than this is broken, not slow: the demo stops it and says so. */
const MIN_EXPECTED_BYTES_PER_SECOND = 2e6;
const BAR_CELLS = 30;

const out = process.stdout;
const interactive = Boolean(out.isTTY);

async function main(argv: string[]): Promise<number> {
  let options: DemoOptions;
  try {
    const parsed = parseDemoArgs(argv);
    if (parsed.help) {
      out.write(`${helpText()}\n`);
      return 0;
    }
    options = parsed.options;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${PROGRAM}: ${error.message} (see ${PROGRAM} --help)\n`);
    return 2;
  }

  const directory = await mkdtemp(join(tmpdir(), 'antt-demo-'));
  // The peers meet here, as two machines behind NATs meet at a public one; loopback only, and only
  // for as long as the demo runs.
  const rendezvous = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
  const cleanup = (): void => {
    void rendezvous.close();
    void rm(directory, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const size = formatMb(options.sizeBytes);
    out.write(
      `Rendezvous server on ${formatAddress(rendezvous.address)} (loopback, started by the demo). Two peers, each its own\n` +
        `process, meet there by name and send a file of ${size} over ${options.transports.join(' and then ')}.\n`,
    );
    const generatedAt = performance.now();
    const file = join(directory, 'demo-file.bin');
    const sha256 = await generateFile(file, options.sizeBytes);
    out.write(
      `Generated ${size} of random bytes in ${seconds(performance.now() - generatedAt)} (SHA-256 ${sha256.slice(0, 16)}...).\n\n`,
    );
    const passphrase = randomBytes(12).toString('base64url');
    const results: TransportResult[] = [];
    for (const transport of options.transports) {
      const meeting = { rendezvous: formatAddress(rendezvous.address), name: `antt-demo-${transport}` };
      results.push(
        await runTransport(transport, meeting, file, directory, options.sizeBytes, sha256, passphrase),
      );
    }
    out.write(`\n${formatTable(results)}\n\n`);
    out.write(
      'path: how the peers reached each other after meeting at the rendezvous (direct, or relayed by it).\n' +
        'connect: from the first message to the rendezvous server until both sides finished the handshake.\n' +
        "goodput: file bytes over the time from the first byte sent to the receiver's hash check.\n" +
        'rtt: median of 10 message round trips before the transfer.\n',
    );
    out.write(
      'encrypted: both peers were given a shared passphrase and a fresh identity; each proved both in the\n' +
        "transport's Noise handshake, and every datagram or frame after it is sealed (AES-256-GCM).\n",
    );
    // Both transports encrypt whenever a passphrase is given: a connection that says otherwise is a bug.
    const unencrypted = results.filter((result) => result.encrypted !== true && result.error === undefined);
    if (unencrypted.length > 0) {
      out.write(
        `Error: ${unencrypted.map((r) => r.transport).join(' and ')} ran UNENCRYPTED although a passphrase was given: a bug in the transport.\n`,
      );
    }
    const tcp = results.find((result) => result.transport === 'tcp');
    if (tcp?.retransmissionsNote) out.write(`${tcp.retransmissionsNote}\n`);
    return results.every((result) => result.hashOk === true) && unencrypted.length === 0 ? 0 : 1;
  } finally {
    cleanup();
  }
}

/** Random bytes (nothing compressible, nothing cached by a clever transport), hashed as written. */
async function generateFile(path: string, size: number): Promise<string> {
  const handle = await open(path, 'w');
  const hash = createHash('sha256');
  const block = Buffer.allocUnsafe(GENERATE_BLOCK_BYTES);
  try {
    for (let written = 0; written < size; ) {
      const chunk = block.subarray(0, Math.min(block.length, size - written));
      randomFillSync(chunk);
      hash.update(chunk);
      await handle.write(chunk);
      written += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function runTransport(
  transport: 'udp' | 'tcp',
  meeting: { rendezvous: string; name: string },
  file: string,
  directory: string,
  size: number,
  expectedSha256: string,
  passphrase: string,
): Promise<TransportResult> {
  const result: TransportResult = { transport };
  const base = { transport, ...meeting, passphrase, connectTimeoutMs: CONNECT_TIMEOUT_MS };
  const tasks: PeerTask[] = [
    { ...base, role: 'sender', path: file },
    { ...base, role: 'receiver', path: join(directory, 'received') },
  ];
  const inbox = join(directory, 'received');
  await mkdir(inbox, { recursive: true });
  const retransmittedBefore = transport === 'tcp' ? kernelTcpRetransmissions() : undefined;
  out.write(`${transport}: both peers meet at the rendezvous as "${meeting.name}" ...\n`);
  const bar = new Bar(`${transport}: sending`, size);
  const peers = tasks.map((task) =>
    fork(join(dirname(fileURLToPath(import.meta.url)), 'peer.js'), [JSON.stringify(task)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const [sender, receiver] = peers as [ChildProcess, ChildProcess];
  const limitMs = CONNECT_TIMEOUT_MS + Math.max(30_000, (size / MIN_EXPECTED_BYTES_PER_SECOND) * 1000);
  const timer = setTimeout(() => {
    result.error ??= `did not finish within ${seconds(limitMs)}`;
    for (const peer of peers) peer.kill('SIGKILL');
  }, limitMs);

  let ready = 0;
  const connected: Extract<PeerReport, { type: 'connected' }>[] = [];
  let senderPath: Extract<PeerReport, { type: 'connected' }>['path'] | undefined;
  const onAnyReport = (report: PeerReport): void => {
    // Both start connecting only once both processes run, so process start-up is not counted.
    if (report.type === 'ready' && ++ready === peers.length) for (const peer of peers) peer.send('go');
    if (report.type !== 'connected') return;
    connected.push(report);
    if (connected.length < peers.length) return;
    // The time to connect is the slower side's: both must be through the handshake.
    result.connectMs = Math.max(...connected.map((one) => one.connectMs));
    result.encrypted = connected.every((one) => one.encrypted === true);
    const path = senderPath ?? connected[0]!.path;
    result.path = path.kind;
    const how = result.encrypted ? 'encrypted, mutually authenticated' : 'NOT encrypted';
    const route = path.kind === 'direct' ? 'direct path' : `relayed by the rendezvous server`;
    out.write(
      `${transport}: met through the rendezvous; ${route}; connected in ${ms(result.connectMs)} (${how})\n`,
    );
    bar.start();
  };
  sender.on('message', (report: PeerReport) => {
    if (report.type === 'connected') senderPath = report.path;
    onAnyReport(report);
    if (report.type === 'done') {
      result.rttMs = report.rttMs;
      result.goodputBytesPerSecond = report.goodputBytesPerSecond;
      if (report.retransmissions !== undefined) result.retransmissions = report.retransmissions;
    } else if (report.type === 'failed') result.error ??= `sender: ${report.message}`;
  });
  receiver.on('message', (report: PeerReport) => {
    onAnyReport(report);
    if (report.type === 'progress') bar.update(report.bytes);
    else if (report.type === 'done')
      result.hashOk = report.hashOk === true && report.sha256 === expectedSha256;
    else if (report.type === 'failed') result.error ??= `receiver: ${report.message}`;
  });
  await Promise.all(peers.map((peer) => exited(peer)));
  clearTimeout(timer);
  await rm(inbox, { recursive: true, force: true });

  if (transport === 'tcp' && retransmittedBefore !== undefined) {
    const after = kernelTcpRetransmissions();
    if (after !== undefined) {
      result.retransmissions = after - retransmittedBefore;
      result.retransmissionsNote =
        "TCP retransmissions: the kernel's, machine-wide, during the transfer (/proc/net/snmp).";
    }
  }
  for (const [index, peer] of peers.entries()) {
    if (peer.exitCode !== 0 && result.error === undefined) {
      result.error = `${index === 0 ? 'sender' : 'receiver'} exited with ${peer.exitCode ?? peer.signalCode}`;
    }
  }
  if (result.error) bar.fail(`${transport}: FAILED: ${result.error}`);
  else {
    const verdict = result.hashOk ? 'SHA-256 matches on the receiver: hash ok' : 'SHA-256 MISMATCH';
    bar.finish(
      `${transport}: sent ${formatMb(size)} at ${formatMb(result.goodputBytesPerSecond ?? 0)}/s; ${verdict}`,
    );
  }
  return result;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Segments the kernel retransmitted, machine-wide (Linux); undefined elsewhere. */
function kernelTcpRetransmissions(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('Tcp:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const value = Number(values[names.indexOf('RetransSegs')]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A progress bar redrawn in place on a terminal, or a line per 10 % elsewhere. */
class Bar {
  readonly #label: string;
  readonly #total: number;
  #startedAt = 0;
  #tenth = 0;
  #drawn = false;

  constructor(label: string, total: number) {
    this.#label = label;
    this.#total = total;
  }

  start(): void {
    this.#startedAt = performance.now();
    this.update(0);
  }

  update(bytes: number): void {
    const fraction = Math.min(1, bytes / this.#total);
    const elapsedS = (performance.now() - this.#startedAt) / 1000;
    const rate = elapsedS > 0 ? bytes / elapsedS : 0;
    if (interactive) {
      const filled = Math.round(fraction * BAR_CELLS);
      const cells = `${'#'.repeat(filled)}${'.'.repeat(BAR_CELLS - filled)}`;
      out.write(
        `\r\x1b[2K${this.#label} [${cells}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatMb(bytes)} of ${formatMb(this.#total)}, ${formatMb(rate)}/s`,
      );
      this.#drawn = true;
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth > this.#tenth) {
      this.#tenth = tenth;
      out.write(
        `${this.#label}: ${tenth * 10}% (${formatMb(bytes)} of ${formatMb(this.#total)}, ${formatMb(rate)}/s)\n`,
      );
    }
  }

  finish(line: string): void {
    if (this.#drawn) out.write('\r\x1b[2K');
    out.write(`${line}\n`);
  }

  fail(line: string): void {
    if (this.#drawn) out.write('\n');
    out.write(`${line}\n`);
  }
}

export function formatMb(bytes: number): string {
  const mb = bytes / 1e6;
  return `${mb >= 100 ? mb.toFixed(0) : mb >= 10 ? mb.toFixed(1) : mb.toFixed(2)} MB`;
}

function seconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(1)} s`;
}

function ms(milliseconds: number): string {
  return `${milliseconds < 10 ? milliseconds.toFixed(1) : Math.round(milliseconds)} ms`;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(`${PROGRAM}: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.ANTT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exitCode = 1;
  },
);
