/**
 * Starts one benchmark peer process (bench/peer.ts, or bench/hyperdht-peer.ts for hyperdht) and reads
 * the JSON lines it prints (bench/measure.ts).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface PeerProcess {
  lines: AsyncIterator<string>;
  write(line: string): void;
  done: Promise<number>;
  kill(): void;
}

/** Spawns `node --import tsx bench/peer.ts ...` (in a namespace when `netns` is given). */
export function peer(args: string[], netns?: string): PeerProcess {
  const command = [
    process.execPath,
    '--conditions=source',
    '--import',
    'tsx',
    join(here, args[1] === 'hyperdht' ? 'hyperdht-peer.ts' : 'peer.ts'),
    ...args,
  ];
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, ...command], {
        cwd: join(here, '..'),
        stdio: ['pipe', 'pipe', 'inherit'],
      })
    : spawn(command[0]!, command.slice(1), { cwd: join(here, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    lines,
    write: (line) => child.stdin!.write(`${line}\n`),
    done: new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1))),
    kill: () => child.kill('SIGKILL'),
  };
}

export async function next(lines: AsyncIterator<string>): Promise<Record<string, unknown>> {
  const { value, done } = await lines.next();
  if (done) throw new Error('peer exited early');
  return JSON.parse(value as string) as Record<string, unknown>;
}
