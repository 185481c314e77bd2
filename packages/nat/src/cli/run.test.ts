import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startFakeStunServer } from '../../test/helpers/fake-stun-server.js';
import { runCli, USAGE } from './run.js';

async function run(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { status, stdout, stderr };
}

describe('antt-nat arguments', () => {
  it.each([
    [[], /^antt-nat: missing command: 'check' or 'stun' \(see antt-nat --help\)\n$/],
    [['punch'], /^antt-nat: unknown command 'punch'/],
    [['check', '--bogus'], /^antt-nat: unknown option '--bogus' \(see antt-nat --help\)\n$/],
    [['check', '--timeout', 'soon'], /--timeout needs a positive number of milliseconds, got 'soon'/],
    [['check', '--server', 'example.org'], /"example.org" is not an address: expected host:port/],
    [['check', 'example.org:3478'], /unexpected argument 'example.org:3478'/],
    [['stun'], /'stun' needs exactly one server address/],
    [['stun', '127.0.0.1:99999'], /"127.0.0.1:99999" is not an address/],
  ])('%j is refused with one line and status 2', async (argv, message) => {
    const { status, stdout, stderr } = await run(argv);
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--help prints the usage', async () => {
    const { status, stdout } = await run(['--help']);
    expect(status).toBe(0);
    expect(stdout).toBe(`${USAGE}\n`);
    for (const word of ['check', 'stun', '--server', '--timeout', '--rto', '--json'])
      expect(USAGE).toContain(word);
  });

  it('the README shows the current --help text', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`$ antt-nat --help\n${USAGE}\n`);
  });
});

describe('antt-nat stun', () => {
  it('prints the mapped address, or JSON', async () => {
    const fake = await startFakeStunServer();
    try {
      const text = await run(['stun', `127.0.0.1:${fake.address.port}`, '--timeout', '2000']);
      expect(text.status).toBe(0);
      expect(text.stdout).toMatch(
        new RegExp(
          `^127\\.0\\.0\\.1:\\d+ \\(server 127\\.0\\.0\\.1:${fake.address.port}, rtt [\\d.]+ ms\\)\\n$`,
        ),
      );
      const json = await run(['stun', `127.0.0.1:${fake.address.port}`, '--json']);
      expect(JSON.parse(json.stdout).mapped.host).toBe('127.0.0.1');
    } finally {
      await fake.close();
    }
  });

  it('a silent server is exit status 1 with the timeout message', async () => {
    const fake = await startFakeStunServer(() => 'drop');
    try {
      const { status, stderr } = await run([
        'stun',
        `127.0.0.1:${fake.address.port}`,
        '--timeout',
        '150',
        '--rto',
        '50',
      ]);
      expect(status).toBe(1);
      expect(stderr).toMatch(
        new RegExp(
          `^antt-nat: no STUN answer from 127\\.0\\.0\\.1:${fake.address.port} after 2 attempts over \\d+ ms: UDP may be blocked\\n$`,
        ),
      );
    } finally {
      await fake.close();
    }
  });
});

describe('the antt-nat executable', () => {
  it('exits 2 on a bad argument without a stack trace', () => {
    const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
    const child = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', cli, 'check', '--timeout', '-5'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(child.status).toBe(2);
    expect(child.stdout).toBe('');
    expect(child.stderr.trim().split('\n')).toHaveLength(1);
    expect(child.stderr).toMatch(/^antt-nat: /);
    expect(child.stderr).not.toMatch(/\n\s+at /);
  });
});
