/**
 * The demo as `pnpm demo` runs it (the built program, two peer processes), with a small file so the
 * test stays quick; and its command line.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OPTIONS } from '../src/options.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

function run(
  args: string[],
  timeoutMs: number,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

describe('antt-demo', () => {
  it('sends an 8 MB file over udp and tcp between two processes and prints the table', async () => {
    const { status, stdout, stderr } = await run(['--size', '8'], 60_000);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toMatch(
      /^Rendezvous server on 127\.0\.0\.1:\d+ \(loopback, started by the demo\)\. Two peers, each its own\nprocess, meet there by name and send a file of 8\.00 MB over udp and then tcp\.$/m,
    );
    // Both peers found each other through the rendezvous, by name, and then connected directly.
    for (const transport of ['udp', 'tcp']) {
      expect(stdout).toContain(
        `${transport}: both peers meet at the rendezvous as "antt-demo-${transport}" ...`,
      );
      expect(stdout).toMatch(
        new RegExp(
          `^${transport}: met through the rendezvous; direct path; connected in [\\d.]+ ms \\(encrypted, mutually authenticated\\)$`,
          'm',
        ),
      );
    }
    // Not a terminal here: progress as a line per 10 %, no escape codes.
    expect(stdout).toMatch(/^udp: sending: \d+% \(/m);
    expect(stdout).not.toContain('\x1b');
    expect(stdout).toMatch(/^udp: sent 8\.00 MB at [\d.]+ MB\/s; SHA-256 matches on the receiver: hash ok$/m);
    expect(stdout).toMatch(/^tcp: sent 8\.00 MB at [\d.]+ MB\/s; SHA-256 matches on the receiver: hash ok$/m);

    const table = stdout.slice(stdout.indexOf('transport  path'));
    const [header, rule, udp, tcp] = table.split('\n');
    expect(header).toMatch(
      /^transport\s+path\s+encrypted\s+connect\s+goodput\s+rtt \(idle\)\s+retransmissions\s+SHA-256$/,
    );
    expect(rule).toMatch(/^[- ]+$/);
    const row = /^(udp|tcp)\s+direct\s+(yes|NO)\s+[\d.]+ ms\s+[\d.]+ MB\/s\s+[\d.]+ ms\s+\d+\s+hash ok$/;
    expect(udp).toMatch(row);
    expect(tcp).toMatch(row);
    // Both transports encrypt: every row says so, and no error about it.
    expect(table).toMatch(/^udp\s+direct\s+yes\s/m);
    expect(table).toMatch(/^tcp\s+direct\s+yes\s/m);
    expect(stdout).not.toContain('UNENCRYPTED');
  });

  it('--help lists every flag the parser accepts, and the README shows it', () => {
    const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    const listed = [...help.stdout.matchAll(/^ {2}(?:-\w, | {4})--([a-z-]+)/gm)].map((match) => match[1]);
    expect(listed).toEqual(Object.keys(OPTIONS));
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(help.stdout.trimEnd());
  });

  it.each([
    [['--bogus'], 'antt-demo: unknown option --bogus'],
    [['--size', 'big'], '--size must be a number of megabytes'],
    [['--size', '0'], '--size must be a number of megabytes'],
    [['--transport', 'quic'], '--transport must be udp or tcp, got "quic"'],
    [['--size'], '--size needs a value'],
    [['extra'], 'unexpected argument "extra"'],
  ])('%j: one clear line, exit 2', (args, message) => {
    const result = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
    expect(result.stderr).toMatch(/^antt-demo: [^\n]*\(see antt-demo --help\)\n$/);
  });
});
