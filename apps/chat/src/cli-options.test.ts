import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONNECT_TIMEOUT_S,
  DEFAULT_IDENTITY_PATH,
  DEFAULT_IDLE_TIMEOUT_S,
  parseChatArgs,
  UsageError,
} from './cli-options.js';

const BASE = ['--port', '3345', '--peer', '198.51.100.7:4456'];

function options(args: string[]) {
  const parsed = parseChatArgs(args);
  if (parsed.help) throw new Error('unexpected help');
  return parsed.options;
}

describe('parseChatArgs', () => {
  it('fills in the documented defaults', () => {
    const parsed = options([...BASE, '--passphrase', 'x']);
    expect(parsed).toMatchObject({
      localPort: 3345,
      peer: { host: '198.51.100.7', port: 4456 },
      transport: 'udp',
      passphrase: 'x',
      peerIds: [],
      identityPath: DEFAULT_IDENTITY_PATH,
      connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_S * 1000,
      idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_S * 1000,
      downloads: process.cwd(),
    });
    expect(parsed.name.length).toBeGreaterThan(0);
  });

  it('reads every flag', () => {
    const downloads = mkdtempSync(join(tmpdir(), 'antt-chat-options-'));
    const parsed = options([
      ...BASE,
      '--transport=tcp',
      '--peer-id',
      'k5qw-3mza-p7xd-2hje-q4rt-b6ny-cuvl-zs3f',
      '--peer-id',
      'K5QW3MZAP7XD2HJEQ4RTB6NYCUVLZS3A',
      '--identity',
      '/tmp/id.json',
      '--name',
      'ada',
      '--connect-timeout',
      '2.5',
      '--idle-timeout',
      '4',
      '--downloads',
      downloads,
    ]);
    expect(parsed).toMatchObject({
      transport: 'tcp',
      passphrase: undefined,
      peerIds: ['K5QW-3MZA-P7XD-2HJE-Q4RT-B6NY-CUVL-ZS3F', 'K5QW-3MZA-P7XD-2HJE-Q4RT-B6NY-CUVL-ZS3A'],
      identityPath: '/tmp/id.json',
      name: 'ada',
      connectTimeoutMs: 2500,
      idleTimeoutMs: 4000,
      downloads,
    });
  });

  it('accepts bracketed IPv6 peers', () => {
    expect(options([...BASE.slice(0, 2), '--peer', '[::1]:4456', '--passphrase', 'x']).peer).toMatchObject({
      host: '::1',
      port: 4456,
    });
  });

  it.each([
    [
      ['--port', '0', '--peer', '1.2.3.4:5', '--passphrase', 'x'],
      '--port must be a number from 1 to 65535, got "0"',
    ],
    [
      ['--port', '1e3', '--peer', '1.2.3.4:5', '--passphrase', 'x'],
      '--port must be a number from 1 to 65535, got "1e3"',
    ],
    [[...BASE, '--passphrase', ''], '--passphrase must not be empty'],
    [[...BASE, '--passphrase', 'x', '--name', ''], '--name must be 1 to 32 characters'],
    [[...BASE, '--passphrase', 'x', '--idle-timeout', '0'], '--idle-timeout must be a number of seconds'],
    [[...BASE, '--passphrase', 'x', '--help=yes'], '--help does not take a value'],
    [[...BASE, '--passphrase', 'x', '--connect-timeout', '-1'], '--connect-timeout needs a value'],
  ])('%j is a usage error', (args, message) => {
    expect(() => parseChatArgs(args)).toThrow(UsageError);
    expect(() => parseChatArgs(args)).toThrow(message);
  });

  it('--help wins over everything else', () => {
    expect(parseChatArgs(['--port', 'nonsense', '-h'])).toEqual({ help: true });
  });
});
