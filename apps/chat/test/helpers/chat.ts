/** Starting antt-chat the way a person would, on loopback ports that are free right now. */
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pane, TmuxServer } from './tmux.js';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export function workDir(): string {
  return mkdtempSync(join(tmpdir(), 'antt-chat-test-'));
}

/** Two ports the kernel just handed out (UDP and TCP share nothing on loopback for these tests). */
export async function freePorts(count: number): Promise<number[]> {
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      return socket;
    }),
  );
  const ports = sockets.map((socket) => socket.address().port);
  for (const socket of sockets) socket.close();
  return ports;
}

export interface ChatSide {
  name: string;
  /** With `peerPort`: meet by address on loopback. */
  port?: number;
  peerPort?: number;
  /** Instead of ports: meet through this rendezvous server (host:port) under `name`. */
  rendezvous?: string;
  /** The tmux session's name, when two sides share a `name`; default: `name`. */
  pane?: string;
  dir: string;
  extra?: string[];
  /** How this side authenticates the peer; default: the shared test passphrase. */
  auth?: string[];
}

/** Starts one side in its own directory (identity, downloads and HOME live there). */
export function startChat(server: TmuxServer, side: ChatSide): Pane {
  mkdirSync(side.dir, { recursive: true });
  return server.start(
    side.pane ?? side.name,
    [
      process.execPath,
      MAIN,
      ...(side.rendezvous !== undefined
        ? ['--rendezvous', side.rendezvous]
        : ['--port', String(side.port), '--peer', `127.0.0.1:${side.peerPort}`]),
      ...(side.auth ?? ['--passphrase', 'test passphrase']),
      '--name',
      side.name,
      '--identity',
      join(side.dir, 'identity.json'),
      '--downloads',
      side.dir,
      ...(side.extra ?? []),
    ],
    { cwd: side.dir, env: { HOME: side.dir, NO_COLOR: '1' } },
  );
}
