/**
 * The command line as a person meets it: --help tells the truth (generated from the table parseArgs
 * reads, and the README shows the real thing), and every mistake is one line and a non-zero exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OPTIONS } from '../src/cli-options.js';
import { freePorts, MAIN, workDir } from './helpers/chat.js';

const dir = workDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function chat(args: string[], timeout = 15_000) {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout,
    input: '',
    env: { ...process.env, HOME: dir, NO_COLOR: '1' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Like a terminal that stays open: stdin is not ended (its end would mean Ctrl-D, "quit"). */
async function chatWithOpenInput(args: string[], timeoutMs = 15_000) {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, HOME: dir, NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const status = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearTimeout(timer);
  return { status, stdout, stderr };
}

const VALID = ['--port', '3345', '--peer', '127.0.0.1:4456', '--passphrase', 'x'];

describe('antt-chat --help', () => {
  const help = chat(['--help']);

  it('exits 0 and lists every flag the parser accepts, with its default', () => {
    expect(help.status).toBe(0);
    for (const [name, spec] of Object.entries(OPTIONS)) {
      expect(help.stdout).toContain(`--${name}`);
      if ('short' in spec) expect(help.stdout).toContain(`-${spec.short}, --${name}`);
      if ('defaultText' in spec)
        expect(help.stdout.replace(/\s+/g, ' ')).toContain(`(default: ${spec.defaultText})`);
    }
    const listed = [...help.stdout.matchAll(/^ {2}(?:-\w, | {4})--([a-z-]+)/gm)].map((match) => match[1]);
    expect(listed).toEqual(Object.keys(OPTIONS));
  });

  it('is shown as is in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(help.stdout.trimEnd());
  });
});

describe('antt-chat with bad arguments', () => {
  it.each([
    [['--bogus'], 'antt-chat: unknown option --bogus'],
    [
      ['--port', 'abc', '--peer', '127.0.0.1:4456', '--passphrase', 'x'],
      '--port must be a number from 1 to 65535, got "abc"',
    ],
    [
      ['--port', '70000', '--peer', '127.0.0.1:4456', '--passphrase', 'x'],
      '--port must be a number from 1 to 65535, got "70000"',
    ],
    [['--port', '3345', '--peer', 'localhost', '--passphrase', 'x'], '--peer must be host:port'],
    [['--port', '3345', '--peer', '127.0.0.1:4456'], 'give --passphrase'],
    [['--peer', '127.0.0.1:4456', '--passphrase', 'x'], '--port is required'],
    [[...VALID, '--transport', 'quic'], '--transport must be udp or tcp, got "quic"'],
    [[...VALID, '--peer-id', 'nope'], '--peer-id: "nope" is not a peer id'],
    [[...VALID, '--connect-timeout', 'soon'], '--connect-timeout must be a number of seconds'],
    [[...VALID, '--downloads', '/no/such/dir'], '--downloads: no such directory "/no/such/dir"'],
    [[...VALID, 'extra'], 'unexpected argument "extra"'],
    [['--port'], '--port needs a value'],
    [
      ['--passphrase', 'x'],
      'say how to reach the other side: --port <n> --peer <host:port> (its address), or',
    ],
    [
      ['--rendezvous', '127.0.0.1', '--name', 'alice', '--passphrase', 'x'],
      '--rendezvous must be host:port with a port from 1 to 65535, like 203.0.113.2:3478, got "127.0.0.1"',
    ],
    [
      ['--rendezvous', '127.0.0.1:3478', '--name', '', '--passphrase', 'x'],
      '--name must be 1 to 32 characters',
    ],
    [
      ['--rendezvous', '127.0.0.1:3478', '--name', 'alice', '--peer-name', ' ', '--passphrase', 'x'],
      '--peer-name must be 1 to 32 characters',
    ],
    [['--rendezvous', '127.0.0.1:3478', '--passphrase', 'x'], '--rendezvous needs --name <name>'],
    [
      [...VALID, '--rendezvous', '127.0.0.1:3478', '--name', 'alice'],
      "give --peer <host:port> (the other side's address) or --rendezvous <host:port> (a server where both meet by name), not both",
    ],
    [[...VALID, '--peer-name', 'bob'], '--peer-name needs --rendezvous <host:port>'],
    [['--rendezvous', '127.0.0.1:3478', '--name', 'alice'], 'give --passphrase'],
  ])('%j: one clear line, exit 2', (args, message) => {
    const result = chat(args);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^antt-chat: .*\(see antt-chat --help\)\n$/);
  });

  it('a port another program holds: one clear line, exit 1', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, resolve));
    try {
      const port = socket.address().port;
      const result = await chatWithOpenInput([
        '--port',
        String(port),
        '--peer',
        '127.0.0.1:9',
        '--passphrase',
        'x',
        '--identity',
        join(dir, 'id.json'),
      ]);
      expect(result.status).toBe(1);
      expect(result.stdout).toContain(
        `port ${port} is already in use (another antt-chat?); pick another --port`,
      );
      expect(`${result.stdout}${result.stderr}`).not.toMatch(/\n\s+at /);
    } finally {
      socket.close();
    }
  });

  it('a peer that never comes: gives up after --connect-timeout with a clear line, exit 1', async () => {
    const [port, peerPort] = (await freePorts(2)) as [number, number];
    const result = await chatWithOpenInput([
      '--port',
      String(port),
      '--peer',
      `127.0.0.1:${peerPort}`,
      '--passphrase',
      'x',
      '--identity',
      join(dir, 'id.json'),
      '--connect-timeout',
      '1.5',
    ]);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(`waiting for peer 127.0.0.1:${peerPort} over udp`);
    expect(result.stdout).toContain(
      `gave up: 127.0.0.1:${peerPort} did not answer within 1.5 s (--connect-timeout)`,
    );
    expect(result.stderr).toBe('');
  });

  it('a rendezvous server that does not answer: says so in the register stage, then gives up, exit 1', async () => {
    const [silentPort] = (await freePorts(1)) as [number];
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(silentPort, '127.0.0.1', resolve));
    try {
      const result = await chatWithOpenInput([
        ...['--rendezvous', `127.0.0.1:${silentPort}`, '--name', 'alice', '--peer-name', 'bob'],
        ...['--passphrase', 'x', '--identity', join(dir, 'id.json'), '--connect-timeout', '2'],
      ]);
      expect(result.status).toBe(1);
      expect(result.stdout).toContain(`waiting for "bob" at rendezvous 127.0.0.1:${silentPort}`);
      expect(result.stdout).toMatch(
        new RegExp(
          `could not connect \\(register stage\\): rendezvous server 127\\.0\\.0\\.1:${silentPort} unreachable: no answer to \\d+ REGISTER requests`,
        ),
      );
      expect(result.stdout).toContain(
        `gave up: the rendezvous server 127.0.0.1:${silentPort} did not answer within 2.0 s (--connect-timeout)`,
      );
      expect(result.stderr).toBe('');
    } finally {
      silent.close();
    }
  });
});
