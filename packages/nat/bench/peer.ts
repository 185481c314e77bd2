// One peer of the connect benchmark, inside a lab namespace (spawned by bench/index.ts). It reads
// commands on stdin, one per line, so the bench starts both peers of a run at the same moment:
//   CONNECT <name> <auto|force-relay>           connect(), print RESULT with wall-clock timestamps, close
//   TRANSFER <name> <auto|force-relay> <bytes>  connect(), then the 'send' peer sends <bytes> and the
//                                               'receive' peer prints the goodput and SHA-256
// and answers each with one line: RESULT {json} or ERROR {json}. Argument: rendezvous address, role.
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { connect, type PunchedConnection } from '../src/index.js';

const [rendezvous, role] = process.argv.slice(2);
const PASSPHRASE = 'bench passphrase';
const PUNCH_TIMEOUT_MS = 3_000;
const CONNECT_TIMEOUT_MS = 15_000;
const MESSAGE_BYTES = 64 * 1024;
const RECEIVE_TIMEOUT_MS = 30_000;

/** Wall-clock milliseconds with sub-ms resolution, comparable between processes on one host. */
const now = () => performance.timeOrigin + performance.now();

async function open(name: string, mode: string): Promise<{ connection: PunchedConnection; timing: object }> {
  const startedAt = now();
  const connection = await connect({
    rendezvous: rendezvous!,
    name,
    passphrase: PASSPHRASE,
    punchTimeout: PUNCH_TIMEOUT_MS,
    forceRelay: mode === 'force-relay',
    timeout: CONNECT_TIMEOUT_MS,
  });
  const openAt = now();
  const { stages } = connection.path;
  return {
    connection,
    timing: {
      startedAt,
      registeredAt: startedAt + stages.registerMs,
      openAt,
      kind: connection.path.kind,
      candidate: connection.path.candidate,
      stages,
    },
  };
}

async function transfer(connection: PunchedConnection, bytes: number): Promise<object> {
  const hash = createHash('sha256');
  if (role === 'send') {
    const data = randomBytes(bytes);
    for (let offset = 0; offset < bytes; offset += MESSAGE_BYTES) {
      await connection.send(data.subarray(offset, offset + MESSAGE_BYTES));
    }
    hash.update(data);
    // The receiver closes once it has everything.
    await connection.receive({ timeout: RECEIVE_TIMEOUT_MS }).catch(() => undefined);
    return { sha: hash.digest('hex') };
  }
  let received = 0;
  let firstAt: number | undefined;
  let firstBytes = 0;
  while (received < bytes) {
    const message = await connection.receive({ timeout: RECEIVE_TIMEOUT_MS });
    if (firstAt === undefined) {
      firstAt = performance.now();
      firstBytes = message.byteLength;
    }
    hash.update(message);
    received += message.byteLength;
  }
  // The bytes after the first message, over the time from the first message to the last byte.
  const ms = performance.now() - firstAt!;
  await connection.close();
  return { sha: hash.digest('hex'), goodputBytes: received - firstBytes, goodputMs: ms };
}

const lines = createInterface({ input: process.stdin });
process.stdout.write('READY\n');
for await (const line of lines) {
  const [command, name, mode, bytes] = line.trim().split(' ');
  if (command !== 'CONNECT' && command !== 'TRANSFER') continue;
  let connection: PunchedConnection | undefined;
  try {
    const opened = await open(name!, mode!);
    connection = opened.connection;
    const moved = command === 'TRANSFER' ? await transfer(connection, Number(bytes)) : {};
    process.stdout.write(`RESULT ${JSON.stringify({ ...opened.timing, ...moved })}\n`);
  } catch (error) {
    const e = error as Error & { code?: string; stage?: string };
    process.stdout.write(`ERROR ${JSON.stringify({ code: e.code, stage: e.stage, message: e.message })}\n`);
  } finally {
    connection?.destroy();
  }
}
process.exit(0);
