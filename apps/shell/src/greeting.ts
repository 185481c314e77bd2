/**
 * The first three messages of a session: the server's hello, the client's start, the server's welcome
 * (or refusal). Authentication is not done here: the transport's handshake already checked the
 * passphrase and/or the allowed peer ids and encrypts everything (a connection that is not encrypted
 * never gets this far, see `openConnection`). This only agrees on the protocol version and tells the
 * client about the session.
 *
 *   server → client  ['hello', 'antt-shell', VERSION]
 *   client → server  ['start', VERSION]
 *   server → client  ['welcome', { root, cwd, exec }] | ['refused', message]
 */
import type { Connection } from '@antt/core';
import { peerInfo } from './connection.js';
import {
  decode,
  encode,
  integer,
  type Message,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  ProtocolMessageError,
  text,
} from './protocol.js';

export const GREETING_TIMEOUT_MS = 10_000;

export interface WelcomeInfo {
  /** The served root's path on the server. */
  root: string;
  /** The session's directory, relative to the root. */
  cwd: string;
  exec: boolean;
}

/** The peer was refused; the message says why, for the log and for the other side. */
export class RefusedError extends Error {}

export async function greetClient(connection: Connection, welcome: WelcomeInfo): Promise<void> {
  requireEncrypted(connection);
  await connection.send(encode('hello', PROTOCOL_NAME, PROTOCOL_VERSION));
  const start = await next(connection, 'start');
  const version = integer(start, 0, 'a version');
  if (version !== PROTOCOL_VERSION) {
    const reason = `the client speaks antt-shell protocol ${version}, this server ${PROTOCOL_VERSION}: use the same version on both sides`;
    await connection.send(encode('refused', reason)).catch(() => {});
    throw new RefusedError(reason);
  }
  await connection.send(encode('welcome', { ...welcome }));
}

export async function greetServer(connection: Connection): Promise<WelcomeInfo> {
  requireEncrypted(connection);
  const hello = await next(connection, 'hello');
  if (text(hello, 0, 'the protocol name') !== PROTOCOL_NAME) {
    throw new RefusedError('the other side is not an antt-shell server');
  }
  const version = integer(hello, 1, 'a version');
  if (version !== PROTOCOL_VERSION) {
    throw new RefusedError(
      `the server speaks antt-shell protocol ${version}, this client ${PROTOCOL_VERSION}: use the same version on both sides`,
    );
  }
  await connection.send(encode('start', PROTOCOL_VERSION));
  const answer = await next(connection, 'welcome', 'refused');
  if (answer.type === 'refused') throw new RefusedError(`the server refused: ${text(answer, 0, 'a reason')}`);
  const info = answer.values[0];
  if (typeof info !== 'object' || info === null || Array.isArray(info) || info instanceof Uint8Array) {
    throw new ProtocolMessageError("'welcome' without session details");
  }
  const details = info as Record<string, unknown>;
  return {
    root: String(details.root ?? '?'),
    cwd: String(details.cwd ?? '.'),
    exec: details.exec === true,
  };
}

/** Belt and braces: `openConnection` never asks for an insecure connection, and this never accepts one. */
function requireEncrypted(connection: Connection): void {
  if (!peerInfo(connection).encrypted) {
    throw new RefusedError('the connection is not encrypted; antt-shell never runs without encryption');
  }
}

async function next(connection: Connection, ...types: string[]): Promise<Message> {
  const message = decode(await connection.receive({ timeout: GREETING_TIMEOUT_MS }));
  if (!types.includes(message.type)) {
    throw new ProtocolMessageError(`expected '${types.join("' or '")}', got '${message.type}'`);
  }
  return message;
}
