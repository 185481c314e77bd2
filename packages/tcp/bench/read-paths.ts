/**
 * Measuring aid: `tsx bench/read-paths.ts [repetitions] [MiB]` shows where a receiver's CPU goes for each
 * way of reading a TCP socket in Node. A child process sends MiB in 1 MiB writes over loopback to
 * another that accepted the connection paused and reads it one of four ways, measuring its own CPU from
 * the first byte to the last (no framing, no application: only the read path):
 *
 * - `data-count`: 'data' events, bytes counted (what raw node:net's receiver in `pnpm bench` does);
 * - `data-copy`: 'data' events, each chunk copied into 1 MiB message buffers (how @antt/tcp read an
 *   accepted socket before it was re-wrapped);
 * - `onread-scratch`: `onread` into one reused 64 KiB buffer, bytes counted;
 * - `onread-direct`: `onread` straight into the rest of the current 1 MiB message buffer (how @antt/tcp
 *   reads a large message now, on dialled and accepted sockets alike).
 */
import { fork } from 'node:child_process';
import { type AddressInfo, connect, createServer, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;
const MESSAGE_BYTES = MiB;
const SCRATCH_BYTES = 64 * 1024;
const MODES = ['data-count', 'data-copy', 'onread-scratch', 'onread-direct'] as const;
type Mode = (typeof MODES)[number];
const SELF = fileURLToPath(import.meta.url);

interface Measurement {
  mode: Mode;
  MiBps: number;
  userSeconds: number;
  systemSeconds: number;
  reads: number;
  minorFaults: number;
}

function send(port: number, total: number): void {
  const socket = connect({ port, host: '127.0.0.1' }, async () => {
    const chunk = Buffer.alloc(MESSAGE_BYTES, 0x5a);
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    socket.end();
  });
}

function receive(mode: Mode, total: number): void {
  const server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
  server.once('connection', (accepted: Socket) => {
    server.close();
    let received = 0;
    let reads = 0;
    let startedAt = 0n;
    let cpuAtStart: NodeJS.CpuUsage | undefined;
    let faultsAtStart = 0;
    let message = Buffer.allocUnsafe(MESSAGE_BYTES);
    let filled = 0;
    const onBytes = (bytes: number): void => {
      if (cpuAtStart === undefined) {
        startedAt = process.hrtime.bigint();
        cpuAtStart = process.cpuUsage();
        faultsAtStart = process.resourceUsage().minorPageFault;
      }
      reads++;
      received += bytes;
      if (received < total) return;
      const cpu = process.cpuUsage(cpuAtStart);
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const result: Measurement = {
        mode,
        MiBps: total / MiB / seconds,
        userSeconds: cpu.user / 1e6,
        systemSeconds: cpu.system / 1e6,
        reads,
        minorFaults: process.resourceUsage().minorPageFault - faultsAtStart,
      };
      process.send!(result, () => process.exit(0));
    };
    const fill = (bytes: number): void => {
      filled += bytes;
      if (filled === MESSAGE_BYTES) {
        message = Buffer.allocUnsafe(MESSAGE_BYTES);
        filled = 0;
      }
    };
    if (mode === 'data-count' || mode === 'data-copy') {
      accepted.on('data', (chunk: Buffer) => {
        if (mode === 'data-copy') {
          for (let offset = 0; offset < chunk.length; ) {
            const take = Math.min(MESSAGE_BYTES - filled, chunk.length - offset);
            chunk.copy(message, filled, offset, offset + take);
            offset += take;
            fill(take);
          }
        }
        onBytes(chunk.length);
      });
      accepted.resume();
      return;
    }
    const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
    // The move src/read-sink.ts's adoptAccepted makes, with this script's onread instead of a sink.
    const internal = accepted as unknown as { _handle: object | null };
    const handle = internal._handle;
    internal._handle = null;
    accepted.destroy();
    new Socket({
      handle,
      onread: {
        buffer: () => (mode === 'onread-direct' ? message.subarray(filled) : scratch),
        callback: (bytes: number) => {
          if (mode === 'onread-direct') fill(bytes);
          onBytes(bytes);
          return true;
        },
      },
    } as ConstructorParameters<typeof Socket>[0]);
  });
}

async function measure(mode: Mode, mib: number): Promise<Measurement> {
  const receiver = fork(SELF, ['receive', mode, String(mib)], { execArgv: process.execArgv });
  return new Promise<Measurement>((resolve, reject) => {
    receiver.on('message', (message: number | Measurement) => {
      if (typeof message === 'number') {
        fork(SELF, ['send', String(message), String(mib)], { execArgv: process.execArgv });
      } else resolve(message);
    });
    receiver.on('exit', (code) => code !== 0 && reject(new Error(`receiver exited with ${code}`)));
  });
}

const [role, arg1, arg2] = process.argv.slice(2);
if (role === 'send') send(Number(arg1), Number(arg2) * MiB);
else if (role === 'receive') receive(arg1 as Mode, Number(arg2) * MiB);
else {
  const repetitions = Number(role ?? 3);
  const mib = Number(arg1 ?? 1024);
  const runs: Measurement[] = [];
  for (let i = 0; i < repetitions; i++) {
    for (const mode of MODES) {
      const run = await measure(mode, mib);
      runs.push(run);
      console.log(JSON.stringify(run, (_, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v)));
    }
  }
  console.log(`\nmedians over ${repetitions} runs of ${mib} MiB, receiver only:`);
  for (const mode of MODES) {
    const of = (key: keyof Measurement): string => {
      const values = runs.filter((r) => r.mode === mode).map((r) => r[key] as number);
      values.sort((a, b) => a - b);
      return values[Math.floor(values.length / 2)]!.toFixed(key === 'reads' || key === 'minorFaults' ? 0 : 2);
    };
    console.log(
      `${mode.padEnd(15)} ${of('MiBps').padStart(8)} MiB/s  user ${of('userSeconds')} s  system ` +
        `${of('systemSeconds')} s  reads ${of('reads')}  minor faults ${of('minorFaults')}`,
    );
  }
}
