import { connect, stunBinding } from '@antt/nat';
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
    expect(USAGE).toMatch(/--port n\s+UDP and TCP port to listen on \(default 3478/);
    expect(USAGE).toMatch(/--registration-ttl s\s+.*\(default 60\)/);
    expect(USAGE).toMatch(/--max-registrations n\s+.*\(default 10000\)/);
    expect(USAGE).toMatch(/--max-relays n\s+Relays held at once[\s\S]*\(default 100; 0 turns relaying off\)/);
    expect(USAGE).toMatch(
      /--relay-rate bytes\/s\s+Bytes per second each relay forwards[\s\S]*\(default 1000000\)/,
    );
    expect(USAGE).toMatch(/--relay-idle s\s+.*\(default 30\)/);
  });

  it('defaults', () => {
    expect(parseCli([])).toEqual({
      host: '0.0.0.0',
      port: 3478,
      registrationTtlSec: 60,
      maxRegistrations: 10_000,
      maxRelays: 100,
      relayRateBytesPerSec: 1_000_000,
      relayIdleTimeoutSec: 30,
    });
    expect(parseCli(['--alternate-port', '0'])).toMatchObject({ alternatePort: false });
    expect(parseCli(['--alternate-port', '3490'])).toMatchObject({ alternatePort: 3490 });
    expect(() => parseCli(['--alternate-port', 'next'])).toThrow(/--alternate-port must be an integer/);
    expect(parseCli(['--max-relays', '0', '--relay-rate', '250000', '--relay-idle', '10'])).toMatchObject({
      maxRelays: 0,
      relayRateBytesPerSec: 250_000,
      relayIdleTimeoutSec: 10,
    });
  });

  it.each([
    [
      ['--port', '70000'],
      /^antt-rendezvous: --port must be an integer from 0 to 65535, got "70000" \(see --help\)\n$/,
    ],
    [['--registration-ttl', 'soon'], /--registration-ttl must be an integer from 1 to 65535, got "soon"/],
    [['--max-registrations', '0'], /--max-registrations must be an integer/],
    [['--max-relays', 'many'], /--max-relays must be an integer from 0 to 1000000, got "many"/],
    [['--relay-rate', '1e6'], /--relay-rate must be an integer from 1000 to 4000000000, got "1e6"/],
    [['--relay-idle', '0'], /--relay-idle must be an integer from 1 to 65535/],
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
      /^antt-rendezvous listening on udp and tcp 127\.0\.0\.1:\d+ \(rendezvous v1 and STUN; mapping queries on udp port \d+; registrations live 5 s/,
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

  it('relays a pair that asks for it, at the --relay-rate it was given', async () => {
    const { out, io } = capture();
    const controller = new AbortController();
    let port = 0;
    const running = runCli(
      ['--host', '127.0.0.1', '--port', '0', '--max-relays', '2', '--relay-rate', '500000'],
      io,
      controller.signal,
      (s) => {
        port = s.address.port;
      },
    );
    while (port === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(out.stdout).toMatch(/at most 2 relays of 500000 bytes\/s each\)\n$/);
    const common = {
      rendezvous: `127.0.0.1:${port}`,
      name: 'cli-relay',
      passphrase: 'p',
      lanAddresses: ['127.0.0.1'],
      forceRelay: true,
      timeout: 15_000,
    };
    const [a, b] = await Promise.all([connect(common), connect(common)]);
    try {
      expect(a.path).toMatchObject({ kind: 'relayed', relayRateBytesPerSec: 500_000 });
      await a.send(Uint8Array.of(1, 2, 3));
      expect([...(await b.receive({ timeout: 5000 }))]).toEqual([1, 2, 3]);
    } finally {
      a.destroy();
      b.destroy();
    }
    controller.abort();
    expect(await running).toBe(0);
    expect(out.stdout).toMatch(
      /stopped: .*; relays 1 \(allocated 1, refused 0, expired 0\), relayed \d+ datagrams/,
    );
  }, 20_000);

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
