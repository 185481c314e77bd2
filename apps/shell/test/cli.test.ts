/**
 * The command line as a person meets it: the built program, spawned. --help must say exactly what is
 * accepted, and every bad argument is one clear line on stderr with exit status 2, never a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, OPTIONS, parseCommandLine, UsageError, usage } from '../src/cli.js';
import { PROGRAM, requireBuilt } from './helpers.js';

let dir: string;

beforeAll(() => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'antt-shell-cli-'));
  writeFileSync(join(dir, 'empty-allow'), '# nobody yet\n');
  writeFileSync(join(dir, 'secret'), 'correct horse\n');
  chmodSync(join(dir, 'secret'), 0o600);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [PROGRAM, ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { ...process.env, HOME: dir },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('--help', () => {
  it.each([[['--help']], [['-h']], [['help']]])('%j prints the usage of both modes', (args) => {
    const { status, stdout, stderr } = run(...args);
    expect(status).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toBe(`${usage()}\n`);
  });

  it.each(MODES)('%s --help prints that mode’s usage', (mode) => {
    const { status, stdout } = run(mode, '--help');
    expect(status).toBe(0);
    expect(stdout).toBe(`${usage(mode)}\n`);
  });

  it.each(MODES)('%s --help lists exactly the options %s accepts', (mode) => {
    const text = usage(mode);
    const listed = [...text.matchAll(/^ {2}(--[\w-]+)/gm)].map((match) => match[1]);
    const accepted = OPTIONS.filter((option) => option.modes.includes(mode)).map(
      (option) => `--${option.name}`,
    );
    expect(listed).toEqual(accepted);
    for (const option of OPTIONS.filter((o) => !o.modes.includes(mode))) {
      expect(text).not.toMatch(new RegExp(`^ {2}--${option.name}\\b`, 'm'));
      expect(() => parseCommandLine([mode, `--${option.name}`, 'x'])).toThrow(/belongs to|unknown option/);
    }
    for (const flag of listed) {
      try {
        parseCommandLine([
          mode,
          flag!,
          ...(OPTIONS.find((o) => `--${o.name}` === flag)!.type === 'string' ? ['x'] : []),
        ]);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        expect((error as Error).message).not.toMatch(/unknown option|belongs to/);
      }
    }
  });

  it('the README shows the current --help', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`$ antt-shell --help\n${usage()}\n`);
  });
});

describe('bad arguments: one line on stderr, status 2', () => {
  const serve = ['serve', '--port', '4456', '--peer', '127.0.0.1:3345'];
  const connect = ['connect', '--port', '3345', '--peer', '127.0.0.1:4456'];
  const cases: [string, () => string[], RegExp][] = [
    ['no mode', () => [], /missing mode: 'serve' or 'connect'/],
    ['unknown mode', () => ['listen'], /unknown mode 'listen'/],
    ['options before the mode', () => ['--port', '1'], /the mode comes first/],
    [
      'unknown flag',
      () => [...serve, '--passphrase', 'x', '--bogus'],
      /unknown option '--bogus' \(see antt-shell serve --help\)/,
    ],
    [
      'a serve flag on connect',
      () => [...connect, '--passphrase', 'x', '--no-exec'],
      /option --no-exec belongs to 'serve'/,
    ],
    ['missing value', () => [...serve, '--passphrase'], /option --passphrase needs a value/],
    ['value on a switch', () => [...serve, '--passphrase', 'x', '--no-exec=yes'], /--no-exec takes no value/],
    [
      'port not a number',
      () => ['serve', '--port', 'abc', '--peer', '127.0.0.1:1', '--passphrase', 'x'],
      /--port must be a port number from 1 to 65535, got 'abc'/,
    ],
    [
      'port out of range',
      () => ['serve', '--port', '70000', '--peer', '127.0.0.1:1', '--passphrase', 'x'],
      /got '70000'/,
    ],
    ['missing port', () => ['connect', '--peer', '127.0.0.1:1', '--passphrase', 'x'], /connect needs --port/],
    [
      'peer without port',
      () => ['connect', '--port', '1', '--peer', 'example.org', '--passphrase', 'x'],
      /--peer must be host:port/,
    ],
    [
      'bad transport',
      () => [...serve, '--passphrase', 'x', '--transport', 'quic'],
      /--transport must be udp or tcp, got 'quic'/,
    ],
    [
      'bad timeout',
      () => [...connect, '--passphrase', 'x', '--connect-timeout', 'soon'],
      /--connect-timeout must be a positive number of seconds/,
    ],
    ['serve without authentication', () => serve, /serve refuses to run without authentication/],
    ['connect without authentication', () => connect, /connect needs --passphrase .* or --peer-id/],
    [
      'unreadable allow file',
      () => [...serve, '--allow-file', join(dir, 'nope')],
      /cannot read --allow-file .*nope: no such file or directory/,
    ],
    [
      'allow file with nobody',
      () => [...serve, '--allow-file', join(dir, 'empty-allow')],
      /lists no peer ids/,
    ],
    [
      'unreadable passphrase file',
      () => [...connect, '--passphrase-file', join(dir, 'nope')],
      /cannot read --passphrase-file/,
    ],
    ['not a peer id', () => [...serve, '--allow', 'hello'], /--allow 'hello' is not a peer id/],
    [
      'missing root',
      () => [...serve, '--passphrase', 'x', '--root', join(dir, 'nope')],
      /cannot use --root .*nope: no such file or directory/,
    ],
    [
      'root is a file',
      () => [...serve, '--passphrase', 'x', '--root', join(dir, 'secret')],
      /--root .*secret is not a directory/,
    ],
    [
      'rendezvous without a port',
      () => ['connect', '--rendezvous', '127.0.0.1', '--name', 'office', '--passphrase', 'x'],
      /--rendezvous must be host:port, for example 203\.0\.113\.2:3478, got '127\.0\.0\.1'/,
    ],
    [
      'empty name',
      () => ['serve', '--rendezvous', '127.0.0.1:3478', '--name', '', '--passphrase', 'x'],
      /--name must be 1 to 64 bytes of printable text, got ""/,
    ],
    [
      'name too long for the rendezvous',
      () => ['serve', '--rendezvous', '127.0.0.1:3478', '--name', 'x'.repeat(65), '--passphrase', 'x'],
      /--name must be 1 to 64 bytes/,
    ],
    [
      'rendezvous without a name',
      () => ['connect', '--rendezvous', '127.0.0.1:3478', '--passphrase', 'x'],
      /--rendezvous needs --name <name>/,
    ],
    [
      'both an address and a rendezvous',
      () => [...connect, '--rendezvous', '127.0.0.1:3478', '--name', 'office', '--passphrase', 'x'],
      /give --peer <host:port> .* or --rendezvous <host:port> .*, not both/,
    ],
    [
      'a name without a rendezvous',
      () => [...serve, '--name', 'office', '--passphrase', 'x'],
      /--name goes with --rendezvous <host:port>/,
    ],
    [
      'neither an address nor a rendezvous',
      () => ['connect', '--port', '1', '--passphrase', 'x'],
      /connect needs --peer \(the other side's host:port, or --rendezvous <host:port> --name <name>/,
    ],
    [
      'damaged identity',
      () => [...serve, '--passphrase', 'x', '--identity', join(dir, 'secret')],
      /^antt-shell: --identity: /,
    ],
  ];

  it.each(cases)('%s', (_name, args, message) => {
    const { status, stdout, stderr } = run(...args());
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/^antt-shell: /);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).toBe('');
    expect(status).toBe(2);
  });
});
