/** What the end-to-end tests share: the built program, free ports, big files, hashes, peak memory. */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const PROGRAM = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export function requireBuilt(): void {
  if (!existsSync(PROGRAM)) {
    throw new Error(`${PROGRAM} is missing: build first (pnpm turbo run build --filter @antt/shell...)`);
  }
}

/** The argv that runs antt-shell with `args`. */
export function shell(...args: string[]): string[] {
  return [process.execPath, PROGRAM, ...args];
}

/** A port free for both UDP and TCP on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        const { port } = socket.address();
        socket.close(() => resolve(port));
      });
    });
    const tcpFree = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (tcpFree) return port;
  }
}

/** Writes `bytes` random bytes to `path`, a megabyte at a time. */
export async function randomFile(path: string, bytes: number): Promise<void> {
  const file = createWriteStream(path);
  for (let written = 0; written < bytes; ) {
    const size = Math.min(1024 * 1024, bytes - written);
    if (!file.write(randomBytes(size)))
      await new Promise<void>((resolve) => file.once('drain', () => resolve()));
    written += size;
  }
  await new Promise<void>((resolve, reject) =>
    file.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Peak resident memory of a live process (VmHWM), in bytes. */
export function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kib) * 1024;
}
