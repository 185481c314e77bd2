import { stunBinding } from '@antt/nat';
import { describe, expect, it } from 'vitest';
import { parseCli, runCli, USAGE } from './cli.js';

function capture() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: (t: string) => {
        out.stdout += t;
      },
      stderr: (t: string) => {
        out.stderr += t;
      },
    },
  };
}

describe('antt-rendezvous', () => {
  it('--help prints the usage with the defaults', async () => {
    const { out, io } = capture();
    expect(await runCli(['--help'], io, AbortSignal.abort())).toBe(0);
    expect(out.stdout).toBe(`${USAGE}\n`);
    expect(USAGE).toMatch(/--port n\s+UDP port to listen on \(default 3478/);
    expect(USAGE).toMatch(/--registration-ttl s\s+.*\(default 60\)/);
    expect(USAGE).toMatch(/--max-registrations n\s+.*\(default 10000\)/);
  });

  it('defaults', () => {
    expect(parseCli([])).toEqual({
      host: '0.0.0.0',
      port: 3478,
      registrationTtlSec: 60,
      maxRegistrations: 10_000,
    });
  });

  it.each([
    [
      ['--port', '70000'],
      /^antt-rendezvous: --port must be an integer from 0 to 65535, got "70000" \(see --help\)\n$/,
    ],
    [['--registration-ttl', 'soon'], /--registration-ttl must be an integer from 1 to 65535, got "soon"/],
    [['--max-registrations', '0'], /--max-registrations must be an integer/],
    [['--bogus'], /^antt-rendezvous: Unknown option '--bogus'.*\(see --help\)\n$/],
    [['extra'], /^antt-rendezvous: Unexpected argument 'extra'.*\n$/],
  ])('bad arguments %j: one line, exit 2', async (argv, pattern) => {
    const { out, io } = capture();
    expect(await runCli(argv, io, AbortSignal.abort())).toBe(2);
    expect(out.stderr).toMatch(pattern);
    expect(out.stderr.split('\n')).toHaveLength(2);
  });

  it('serves STUN on its port until the signal fires', async () => {
    const { out, io } = capture();
    const controller = new AbortController();
    let port = 0;
    const running = runCli(
      ['--host', '127.0.0.1', '--port', '0', '--registration-ttl', '5'],
      io,
      controller.signal,
      (s) => {
        port = s.address.port;
      },
    );
    while (port === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(out.stdout).toMatch(
      /^antt-rendezvous listening on udp 127\.0\.0\.1:\d+ \(rendezvous v1 and STUN; registrations live 5 s/,
    );
    const { mapped } = await stunBinding({
      server: `127.0.0.1:${port}`,
      software: 'antt-test',
      timeout: 3000,
    });
    expect(mapped.host).toBe('127.0.0.1');
    controller.abort();
    expect(await running).toBe(0);
    expect(out.stdout).toMatch(/stopped: registrations 0, peers paired 0, STUN answered 1/);
  });

  it('a port in use: one line, exit 1', async () => {
    const first = capture();
    const controller = new AbortController();
    let port = 0;
    const running = runCli(['--host', '127.0.0.1', '--port', '0'], first.io, controller.signal, (s) => {
      port = s.address.port;
    });
    while (port === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const { out, io } = capture();
    expect(await runCli(['--host', '127.0.0.1', '--port', String(port)], io, AbortSignal.abort())).toBe(1);
    expect(out.stderr).toMatch(/^antt-rendezvous: binding UDP 127\.0\.0\.1:\d+ failed \(EADDRINUSE/);
    controller.abort();
    await running;
  });
});
