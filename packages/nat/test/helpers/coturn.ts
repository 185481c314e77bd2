import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from '@antt/core';
import { stunBinding } from '../../src/stun/client.js';

/** The coturn binary, or undefined when the Debian package `coturn` is not installed. */
export function findTurnserver(): string | undefined {
  for (const candidate of ['/usr/bin/turnserver', '/usr/local/bin/turnserver']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore', timeout: 5000 });
      return candidate;
    } catch {}
  }
  return undefined;
}

/** Why coturn tests are skipped, or undefined when they can run. With CI=true a missing coturn is an error. */
export function coturnSkipReason(): string | undefined {
  if (findTurnserver()) return undefined;
  const reason = 'coturn is not installed (apt-get install -y coturn): skipping the coturn tests';
  if (process.env.CI === 'true') throw new Error(`${reason.split(':')[0]}, and CI=true requires it`);
  console.log(reason);
  return reason;
}

export interface Coturn {
  /** Primary address: the first listening IP and port. */
  address: Address;
  /** Output so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export interface CoturnOptions {
  /** Listening IPs; two give RFC 5780 (OTHER-ADDRESS, CHANGE-REQUEST). Default ['127.0.0.1']. */
  ips?: string[];
  /** Port; default: a free one whose successor is free too (the alternate port is port + 1). */
  port?: number;
}

/** A free UDP port p on `host` with p + 1 free as well (coturn's alternate port). */
export async function freePortPair(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = createSocket('udp4');
    await new Promise<void>((resolve) => a.bind(0, host, resolve));
    const port = a.address().port;
    const b = createSocket('udp4');
    const ok =
      port < 65535 &&
      (await new Promise<boolean>((resolve) => {
        b.once('error', () => resolve(false));
        b.bind(port + 1, host, () => resolve(true));
      }));
    a.close();
    b.close();
    if (ok) return port;
  }
  throw new Error('no free UDP port pair on loopback');
}

/**
 * Arguments for a foreground STUN-only coturn: no TLS/DTLS, no auth, no CLI, logging to stdout, its user
 * database and pid file in `dir`. With two `ips` it supports RFC 5780 (alternate port = port + 1).
 */
export function coturnArgs(ips: string[], port: number, dir: string): string[] {
  return [
    '-n', // no configuration file
    '--no-cli',
    '--no-tls',
    '--no-dtls',
    '--stun-only',
    '--no-auth',
    ...ips.flatMap((ip) => ['--listening-ip', ip]),
    '--listening-port',
    String(port),
    '--alt-listening-port',
    String(port + 1),
    '--log-file',
    'stdout',
    '--simple-log',
    '--userdb',
    join(dir, 'turndb'),
    '--pidfile',
    join(dir, 'turnserver.pid'),
  ];
}

/**
 * Starts `turnserver` in the foreground as a child: STUN only, no TLS/DTLS, no auth, no CLI, logging to
 * stdout, a throwaway user database. Resolves once it answers a Binding request.
 */
export async function startCoturn(options: CoturnOptions = {}): Promise<Coturn> {
  const binary = findTurnserver();
  if (!binary) throw new Error('coturn is not installed (apt-get install -y coturn)');
  const ips = options.ips ?? ['127.0.0.1'];
  const port = options.port ?? (await freePortPair(ips[0]));
  const dir = mkdtempSync(join(tmpdir(), 'antt-coturn-'));
  const args = coturnArgs(ips, port, dir);
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const address = { host: ips[0]!, port };
  {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`turnserver exited (${child.exitCode}):\n${output}`);
      try {
        await stunBinding({
          server: address,
          localAddress: ips[0],
          rtoMs: 100,
          maxTransmissions: 2,
          lastWaitFactor: 2,
        });
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          await stop();
          throw new Error(
            `turnserver did not answer on ${ips[0]}:${port}: ${(error as Error).message}\n${output}`,
          );
        }
      }
    }
  }
  return { address, log: () => output, stop };
}
