import type { Socket } from 'node:net';
import {
  AnttError,
  AuthError,
  abortReasonToError,
  ErrorCode,
  formatMs,
  networkError,
  ProtocolError,
  ResetError,
  TimeoutError,
} from '@antt/core';
import { HandshakeMessageType, RejectReason, type SecureHandshake, type TransportKeys } from '@antt/secure';
import { onChunks } from './read-sink.js';
import { FRAME_HEADER_BYTES, FrameType, frameTypeName, writeFrameHeader } from './wire-format.js';

/** Noise XX messages with empty payloads are 35-115 bytes; anything this large is not a handshake. */
export const MAX_HANDSHAKE_FRAME_BYTES = 1024;

export interface SecureExchangeOptions {
  /** A fresh handshake from SecureContext.handshake(), initiator = the client side. */
  handshake: SecureHandshake;
  /** Bytes that followed the peer's HELLO. */
  rest: Buffer;
  peer: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface SecureExchangeResult {
  keys: TransportKeys;
  remotePeerId: string;
  /** Bytes that followed the last handshake message: the first sealed records. */
  rest: Buffer;
}

/**
 * Runs the Noise handshake (@antt/secure) over a TCP connection whose HELLOs were exchanged: each
 * handshake message travels in a HANDSHAKE frame (`u32 length | 0x05 | message`). Any failure ends the
 * exchange: this side sends the handshake's reject message (so the peer fails at once with the same
 * cause) and rejects with AuthError (wrong passphrase, peer not allowed, tampering, the peer's reject) or
 * ProtocolError (malformed, another handshake version), naming the peer; TimeoutError if the peer stays
 * silent for `timeoutMs`. Leaves the socket paused.
 */
export function runSecureExchange(
  socket: Socket,
  options: SecureExchangeOptions,
): Promise<SecureExchangeResult> {
  const { handshake, peer, signal } = options;
  if (signal.aborted) return Promise.reject(abortReasonToError(signal, `connect to ${peer}`));
  return new Promise<SecureExchangeResult>((resolve, reject) => {
    let pending = Buffer.alloc(0);
    let settled = false;
    let stopReading = (): void => {};
    const timer = setTimeout(onTimeout, options.timeoutMs);
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.pause();
      stopReading();
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      if (settled) return;
      done();
      reject(error);
    };
    const send = (message: Uint8Array): void => {
      if (socket.destroyed || socket.writableEnded) return;
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.byteLength);
      writeFrameHeader(frame, 0, FrameType.HANDSHAKE, message.byteLength);
      frame.set(message, FRAME_HEADER_BYTES);
      socket.write(frame);
    };
    const onMessage = (message: Buffer): void => {
      try {
        handshake.readMessage(message);
      } catch (error) {
        const peerRejected = message[1] === HandshakeMessageType.REJECT;
        // The peer's own reject needs no answer; anything else tells the peer why, so it fails at once.
        if (!peerRejected) send(handshake.rejectMessage(error));
        fail(explain(error, peer, peerRejected ? rejectHint(message[2], handshake) : ''));
        return;
      }
      if (handshake.nextStep === 'write') send(handshake.writeMessage());
      if (handshake.nextStep === 'done') {
        const keys = handshake.split();
        done();
        resolve({ keys, remotePeerId: handshake.remotePeerId!, rest: Buffer.from(pending) });
      }
    };
    function onData(chunk: Buffer): void {
      if (settled) return;
      // Copied: the chunk may be a reused read buffer. Handshake traffic is a few hundred bytes.
      pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      while (!settled && pending.length >= FRAME_HEADER_BYTES) {
        const length = pending.readUInt32BE(0);
        const type = pending[4]!;
        if (type !== FrameType.HANDSHAKE) {
          fail(
            new ProtocolError(
              `the peer at ${peer} sent a ${frameTypeName(type)} frame during the security handshake: ` +
                'it does not follow the Antt TCP protocol',
            ),
          );
          return;
        }
        if (length > MAX_HANDSHAKE_FRAME_BYTES) {
          fail(
            new ProtocolError(
              `the peer at ${peer} sent a handshake frame of ${length} bytes (at most ` +
                `${MAX_HANDSHAKE_FRAME_BYTES}): the handshake was tampered with or is corrupt`,
            ),
          );
          return;
        }
        if (pending.length < FRAME_HEADER_BYTES + length) return;
        const message = pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
        pending = pending.subarray(FRAME_HEADER_BYTES + length);
        onMessage(message);
      }
    }
    function onEnd(): void {
      fail(
        new ProtocolError(
          `the peer at ${peer} closed the connection in the middle of the security handshake ` +
            `(after ${handshake.remotePeerId ? `it proved to be peer ${handshake.remotePeerId}` : 'the HELLO'})`,
        ),
      );
    }
    function onError(error: NodeJS.ErrnoException): void {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
        fail(new ResetError(`the peer at ${peer} reset the connection during the security handshake`));
      } else {
        fail(networkError(`the security handshake with ${peer}`, error));
      }
    }
    function onClose(): void {
      fail(new ResetError(`the connection to ${peer} closed during the security handshake`));
    }
    function onTimeout(): void {
      fail(
        new TimeoutError(
          `the peer at ${peer} did not finish the security handshake within ${formatMs(options.timeoutMs)} ` +
            '(option handshakeTimeout): it is stuck, or something on the path holds the handshake back',
        ),
      );
    }
    function onAbort(): void {
      fail(abortReasonToError(signal, `connect to ${peer}`));
    }
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    if (handshake.nextStep === 'write') send(handshake.writeMessage());
    if (options.rest.length > 0) onData(options.rest);
    if (settled) return;
    stopReading = onChunks(socket, onData);
    if (settled) stopReading();
    else socket.resume();
  });
}

/** More to say about a reject that concerns this side's identity. */
function rejectHint(reason: number | undefined, handshake: SecureHandshake): string {
  return reason === RejectReason.PEER_NOT_ALLOWED ? ` (this side's peer id is ${handshake.localPeerId})` : '';
}

/** Names the peer and keeps the cause; the code stays ANTT_ERR_AUTH or ANTT_ERR_PROTOCOL. */
function explain(error: unknown, peer: string, hint: string): AnttError {
  const cause = AnttError.is(error) ? error : undefined;
  const text = `the security handshake with ${peer} failed: ${cause?.message ?? String(error)}${hint}`;
  return cause?.code === ErrorCode.AUTH
    ? new AuthError(text, { cause: error })
    : new ProtocolError(text, { cause: error });
}
