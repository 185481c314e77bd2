/**
 * One demo peer, run as its own process by the demo (`node peer.js '<task json>'`, with an IPC channel):
 * connects, then sends or receives the file, and reports what it measured.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Connection } from '@antt/core';
import { connect } from '@antt/nat';
import { Identity } from '@antt/secure';
import { CHUNK_BYTES, decode, encode, type PeerReport, type PeerTask, RTT_PROBES } from './protocol.js';

const PROGRESS_EVERY_MS = 100;
const CLOSE_TIMEOUT_MS = 5_000;
/** After the last byte: delivery of what is in flight, the receiver's hash, one round trip. */
const VERDICT_TIMEOUT_MS = 30_000;

function report(message: PeerReport): void {
  process.send?.(message);
}

/**
 * Meets the other peer through the demo's rendezvous server under the shared meeting name, as two
 * machines behind NATs would: register, learn the other's candidates, punch (UDP) or open
 * simultaneously (TCP), then the Noise handshake with the shared passphrase.
 */
async function run(task: PeerTask): Promise<void> {
  // Both peers start at the same moment, so the time to connect does not include the other process
  // starting up.
  report({ type: 'ready' });
  await new Promise((resolve) => process.once('message', resolve));
  const startedAt = performance.now();
  const connection = await connect({
    rendezvous: task.rendezvous,
    name: task.name,
    transport: task.transport,
    identity: Identity.generate(),
    passphrase: task.passphrase,
    // Both peers are on this machine: loopback is their LAN.
    lanAddresses: ['127.0.0.1'],
    timeout: task.connectTimeoutMs,
  });
  const secured = connection as Connection & { encrypted?: boolean; remotePeerId?: string };
  report({
    type: 'connected',
    connectMs: performance.now() - startedAt,
    encrypted: typeof secured.encrypted === 'boolean' ? secured.encrypted : undefined,
    remotePeerId: secured.remotePeerId,
    path: { kind: connection.path.kind, candidate: connection.path.candidate },
  });
  if (task.role === 'sender') await send(connection, task.path);
  else await receive(connection, task.path);
}

async function send(connection: Connection, path: string): Promise<void> {
  const rtts: number[] = [];
  for (let probe = 0; probe < RTT_PROBES; probe++) {
    const sentAt = performance.now();
    await connection.send(encode({ kind: 'ping', sentAt }));
    const answer = decode(await connection.receive({ timeout: 5_000 }));
    if (answer.kind === 'pong' && answer.sentAt === sentAt) rtts.push(performance.now() - sentAt);
  }
  rtts.sort((a, b) => a - b);

  const file = await open(path, 'r');
  const size = (await file.stat()).size;
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  const startedAt = performance.now();
  await connection.send(encode({ kind: 'file-start', name: basename(path), size }));
  for (;;) {
    const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    await connection.send(encode({ kind: 'file-chunk', bytes: chunk }));
  }
  await file.close();
  await connection.send(encode({ kind: 'file-end', sha256: hash.digest('hex') }));
  const result = decode(
    await connection.receive({ timeout: VERDICT_TIMEOUT_MS }).catch((error: unknown) => {
      throw new Error(
        `every byte was handed to the transport, but the receiver's verdict did not come within ${VERDICT_TIMEOUT_MS / 1000} s: the transfer stalled (${error instanceof Error ? error.message : String(error)})`,
      );
    }),
  );
  const elapsedS = (performance.now() - startedAt) / 1000;
  if (result.kind !== 'file-result') throw new Error(`expected the receiver's result, got ${result.kind}`);
  const stats = connection.stats();
  report({
    type: 'done',
    role: 'sender',
    rttMs: rtts[Math.floor(rtts.length / 2)],
    ...(stats.retransmissions !== undefined ? { retransmissions: stats.retransmissions } : {}),
    goodputBytesPerSecond: size / elapsedS,
  });
  await connection.close({ timeout: CLOSE_TIMEOUT_MS });
}

async function receive(connection: Connection, directory: string): Promise<void> {
  let file: Awaited<ReturnType<typeof open>> | undefined;
  let hash = createHash('sha256');
  let received = 0;
  let lastReportAt = 0;
  for await (const bytes of connection) {
    const message = decode(bytes);
    switch (message.kind) {
      case 'ping':
        await connection.send(encode({ kind: 'pong', sentAt: message.sentAt }));
        break;
      case 'file-start':
        file = await open(join(directory, basename(message.name)), 'w');
        hash = createHash('sha256');
        break;
      case 'file-chunk': {
        if (!file) throw new Error('file data before file-start');
        hash.update(message.bytes);
        await file.write(message.bytes);
        received += message.bytes.byteLength;
        const now = performance.now();
        if (now - lastReportAt >= PROGRESS_EVERY_MS) {
          lastReportAt = now;
          report({ type: 'progress', bytes: received });
        }
        break;
      }
      case 'file-end': {
        await file?.close();
        const sha256 = hash.digest('hex');
        const hashOk = sha256 === message.sha256;
        report({ type: 'progress', bytes: received });
        report({ type: 'done', role: 'receiver', sha256, hashOk });
        await connection.send(encode({ kind: 'file-result', ok: hashOk, sha256, goodputBytesPerSecond: 0 }));
        break;
      }
      default:
        break;
    }
  }
}

const task = JSON.parse(process.argv[2] ?? '{}') as PeerTask;
run(task).then(
  () => process.disconnect?.(),
  (error: unknown) => {
    report({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    process.exitCode = 1;
    process.disconnect?.();
  },
);
