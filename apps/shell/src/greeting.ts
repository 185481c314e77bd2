/**
 * The first three messages of a session: the server's hello, the client's auth, the server's welcome
 * (or refusal). When the transport authenticated the peer itself (`connection.encrypted`, with a
 * passphrase and/or allowed peer ids checked in its handshake) this only agrees on the protocol version.
 *
 * Fallback, for transports that do not authenticate yet: both sides prove they know the passphrase with
 * HMAC-SHA256 over both sides' fresh nonces, under a key stretched with scrypt. That keeps strangers out
 * of the shell, but nothing after it is encrypted or integrity-protected, and peer ids cannot be
 * checked, so a configuration that relies on peer ids is refused instead of silently weakened.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Connection } from '@antt/core';
import { derivePassphraseKey } from '@antt/secure';
import { peerInfo } from './connection.js';
import {
  bytes,
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
const NONCE_BYTES = 32;
/** Distinct from the transports' own passphrase context, so the two keys never coincide. */
const FALLBACK_KEY_CONTEXT = 'antt-shell/1 fallback proof';

export interface WelcomeInfo {
  /** The served root's path on the server. */
  root: string;
  /** The session's directory, relative to the root. */
  cwd: string;
  exec: boolean;
  /** The server's peer id. */
  peerId: string;
}

/** The peer was refused; the message says why, for the log and for the other side. */
export class RefusedError extends Error {}

export interface GreetingResult {
  /** How the peer was authenticated, for the log: its peer id, or 'passphrase (unencrypted transport)'. */
  authenticatedBy: string;
}

export async function greetClient(
  connection: Connection,
  settings: { passphrase: string | undefined; allowedPeers: readonly string[]; welcome: WelcomeInfo },
): Promise<GreetingResult> {
  const peer = peerInfo(connection);
  const serverNonce = randomBytes(NONCE_BYTES);
  await connection.send(encode('hello', PROTOCOL_NAME, PROTOCOL_VERSION, serverNonce));
  const auth = await next(connection, 'auth');
  const clientNonce = bytes(auth, 0, 'a nonce');
  const proof = bytes(auth, 1, 'a proof');
  let serverProof: Uint8Array = new Uint8Array(0);
  let authenticatedBy = peer.peerId ?? 'unknown peer id';
  if (!peer.encrypted) {
    const refuse = async (reason: string): Promise<never> => {
      await connection.send(encode('refused', reason)).catch(() => {});
      throw new RefusedError(reason);
    };
    if (settings.allowedPeers.length > 0) {
      await refuse(
        'the server allows peers by id, but this build of the transport cannot check peer ids (no encryption yet); start the server with --passphrase only',
      );
    }
    if (settings.passphrase === undefined) await refuse('the server has no passphrase configured');
    const key = await derivePassphraseKey(settings.passphrase!, { context: FALLBACK_KEY_CONTEXT });
    const expected = mac(key, 'client', serverNonce, clientNonce);
    if (proof.length !== expected.length || !timingSafeEqual(proof, expected)) {
      await refuse('wrong passphrase');
    }
    serverProof = mac(key, 'server', serverNonce, clientNonce);
    authenticatedBy = 'passphrase, transport not encrypted';
  }
  await connection.send(encode('welcome', serverProof, { ...settings.welcome }));
  return { authenticatedBy };
}

export async function greetServer(
  connection: Connection,
  settings: { passphrase: string | undefined; serverPeerId: string | undefined },
): Promise<WelcomeInfo & { encrypted: boolean }> {
  const peer = peerInfo(connection);
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
  const serverNonce = bytes(hello, 2, 'a nonce');
  const clientNonce = randomBytes(NONCE_BYTES);
  let key: Uint8Array | undefined;
  if (!peer.encrypted) {
    if (settings.serverPeerId !== undefined) {
      throw new RefusedError(
        "this build of the transport cannot check the server's peer id (no encryption yet); connect with --passphrase only",
      );
    }
    key = await derivePassphraseKey(settings.passphrase!, { context: FALLBACK_KEY_CONTEXT });
  }
  const proof = key ? mac(key, 'client', serverNonce, clientNonce) : new Uint8Array(0);
  await connection.send(encode('auth', clientNonce, proof));
  const answer = await next(connection, 'welcome', 'refused');
  if (answer.type === 'refused') throw new RefusedError(`the server refused: ${text(answer, 0, 'a reason')}`);
  if (key) {
    const serverProof = bytes(answer, 0, 'a proof');
    const expected = mac(key, 'server', serverNonce, clientNonce);
    if (serverProof.length !== expected.length || !timingSafeEqual(serverProof, expected)) {
      throw new RefusedError('the server did not prove it knows the passphrase');
    }
  }
  const info = answer.values[1];
  if (typeof info !== 'object' || info === null || Array.isArray(info) || info instanceof Uint8Array) {
    throw new ProtocolMessageError("'welcome' without session details");
  }
  const details = info as Record<string, unknown>;
  return {
    root: String(details.root ?? '?'),
    cwd: String(details.cwd ?? '.'),
    exec: details.exec === true,
    peerId: String(details.peerId ?? '?'),
    encrypted: peer.encrypted,
  };
}

async function next(connection: Connection, ...types: string[]): Promise<Message> {
  const message = decode(await connection.receive({ timeout: GREETING_TIMEOUT_MS }));
  if (!types.includes(message.type)) {
    throw new ProtocolMessageError(`expected '${types.join("' or '")}', got '${message.type}'`);
  }
  return message;
}

function mac(
  key: Uint8Array,
  side: 'client' | 'server',
  serverNonce: Uint8Array,
  clientNonce: Uint8Array,
): Buffer {
  return createHmac('sha256', key)
    .update(`antt-shell/1 ${side} proof\0`)
    .update(serverNonce)
    .update(clientNonce)
    .digest();
}
