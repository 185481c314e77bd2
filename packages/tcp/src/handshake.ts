import type { Socket } from 'node:net';
import { abortReasonToError, formatMs, networkError, ProtocolError, TimeoutError } from '@antt/core';
import { HelloReader } from './hello-reader.js';
import { onChunks } from './read-sink.js';
import { TransientFailure } from './simultaneous-open.js';
import type { Hello, Role } from './wire-format.js';

/**
 * A server waits this long for the client's HELLO before sending its own anyway: the client normally
 * speaks first, but two peers both configured as 'server' (or a service that only answers when spoken
 * to) must not leave the handshake silent.
 */
export const SERVER_NUDGE_MS = 300;

export interface HandshakeOptions {
  role: Role;
  /** This side's encoded HELLO. */
  hello: Buffer;
  nonce: Buffer;
  peer: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface HandshakeResult {
  hello: Hello;
  /** The peer's HELLO exactly as received. */
  helloBytes: Buffer;
  /** Bytes that followed the peer's HELLO: the start of its frames. */
  rest: Buffer;
}

/**
 * Exchanges HELLOs on a fresh TCP connection. The client speaks first; the server answers as soon as it
 * has the client's HELLO (before judging it, so a peer of another version learns ours too). Rejects with
 * ProtocolError for anything that is not an Antt peer, TimeoutError when the peer stays silent, and
 * {@link TransientFailure} when the connection was reset before the HELLO arrived (the peer's listener
 * closed under it: try again). Leaves the socket paused.
 */
export function runHandshake(socket: Socket, options: HandshakeOptions): Promise<HandshakeResult> {
  const { peer, signal } = options;
  const reader = new HelloReader(peer);
  if (signal.aborted) return Promise.reject(abortReasonToError(signal, `connect to ${peer}`));
  return new Promise<HandshakeResult>((resolve, reject) => {
    let stopReading = (): void => {};
    let helloSent = false;
    const sendHello = (): void => {
      if (helloSent || socket.destroyed) return;
      helloSent = true;
      socket.write(options.hello);
    };
    const timer = setTimeout(onTimeout, options.timeoutMs);
    const nudge = options.role === 'server' ? setTimeout(sendHello, SERVER_NUDGE_MS) : undefined;
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(nudge);
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
    function onData(chunk: Buffer): void {
      if (settled) return;
      let result: ReturnType<HelloReader['push']>;
      try {
        result = reader.push(chunk);
      } catch (error) {
        fail(error as Error);
        return;
      }
      if (!result.done) return;
      sendHello();
      if (result.hello.nonce.equals(options.nonce)) {
        fail(
          new ProtocolError(
            `connected to itself: ${peer} is this very socket (TCP lets a port connect to itself); ` +
              "give each side the other's address and port",
          ),
        );
        return;
      }
      done();
      // Copied: the chunk may be a reused read buffer.
      resolve({ hello: result.hello, helloBytes: result.raw, rest: Buffer.from(result.rest) });
    }
    function onEnd(): void {
      fail(
        new ProtocolError(
          reader.bytesSeen === 0
            ? `the peer at ${peer} closed the connection without answering the Antt handshake: it is not an Antt peer`
            : `the peer at ${peer} closed the connection after sending '${reader.describeSeen()}', ` +
                'an incomplete Antt handshake',
        ),
      );
    }
    function onError(error: NodeJS.ErrnoException): void {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
        fail(new TransientFailure(`the connection to ${peer} was reset during the handshake`));
      } else {
        fail(networkError(`the handshake with ${peer}`, error));
      }
    }
    function onClose(): void {
      fail(new TransientFailure(`the connection to ${peer} closed during the handshake`));
    }
    function onTimeout(): void {
      fail(
        reader.bytesSeen === 0
          ? new TimeoutError(
              `the peer at ${peer} accepted the TCP connection but did not answer the Antt handshake within ` +
                `${formatMs(options.timeoutMs)}: it is not an Antt peer, or it is stuck`,
            )
          : new ProtocolError(
              `the peer at ${peer} sent '${reader.describeSeen()}' and then nothing for ` +
                `${formatMs(options.timeoutMs)}: an incomplete Antt handshake`,
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
    if (options.role === 'client') sendHello();
    // Last: a socket with a read sink may hand over bytes it already read, synchronously.
    stopReading = onChunks(socket, onData);
    if (settled) stopReading();
    else socket.resume();
  });
}
