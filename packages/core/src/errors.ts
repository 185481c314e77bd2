/**
 * One error family for every Antt package. Callers branch on `error.code` (stable across releases),
 * people read `error.message` (says what happened and what to do).
 */

const ANTT_ERROR_BRAND = Symbol.for('antt.error');

export const ErrorCode = {
  /** An operation, the handshake or the idle timer ran out of time. */
  TIMEOUT: 'ANTT_ERR_TIMEOUT',
  /** The connection is closed (locally or by the peer) and the operation cannot proceed. */
  CLOSED: 'ANTT_ERR_CLOSED',
  /** The peer ended the connection abruptly (reset, destroy, crash). */
  RESET: 'ANTT_ERR_RESET',
  /** The peer broke the wire protocol, or is not an Antt peer at all. */
  PROTOCOL: 'ANTT_ERR_PROTOCOL',
  /** The caller's AbortSignal fired. */
  ABORTED: 'ANTT_ERR_ABORTED',
  /** Authentication failed: wrong key, wrong passphrase, unknown peer. */
  AUTH: 'ANTT_ERR_AUTH',
  /** A message is larger than the connection accepts. */
  MESSAGE_TOO_LARGE: 'ANTT_ERR_MESSAGE_TOO_LARGE',
  /** A bad option or argument from the caller. */
  INVALID_ARGUMENT: 'ANTT_ERR_INVALID_ARGUMENT',
  /** The call does not fit the connection's state (send before connect, connect twice). */
  INVALID_STATE: 'ANTT_ERR_INVALID_STATE',
  /** The operating system refused: address in use, unreachable network, permission. */
  NETWORK: 'ANTT_ERR_NETWORK',
  /** The peer actively refused the connection (for instance a TCP reset from its router). */
  REFUSED: 'ANTT_ERR_REFUSED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface AnttErrorOptions {
  cause?: unknown;
}

export class AnttError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: AnttErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = 'AnttError';
    Object.defineProperty(this, ANTT_ERROR_BRAND, { value: true });
  }

  /** True for any AnttError, even one made by another copy of this package. */
  static is(value: unknown): value is AnttError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[ANTT_ERROR_BRAND] === true
    );
  }
}

export class TimeoutError extends AnttError {
  constructor(message: string, options?: AnttErrorOptions) {
    super(ErrorCode.TIMEOUT, message, options);
    this.name = 'TimeoutError';
  }
}

export class ClosedError extends AnttError {
  constructor(message = 'the connection is closed', options?: AnttErrorOptions) {
    super(ErrorCode.CLOSED, message, options);
    this.name = 'ClosedError';
  }
}

export class ResetError extends AnttError {
  constructor(message = 'the peer ended the connection abruptly', options?: AnttErrorOptions) {
    super(ErrorCode.RESET, message, options);
    this.name = 'ResetError';
  }
}

export class ProtocolError extends AnttError {
  constructor(message: string, options?: AnttErrorOptions) {
    super(ErrorCode.PROTOCOL, message, options);
    this.name = 'ProtocolError';
  }
}

export class AbortError extends AnttError {
  constructor(message = 'the operation was aborted', options?: AnttErrorOptions) {
    super(ErrorCode.ABORTED, message, options);
    this.name = 'AbortError';
  }
}

export class AuthError extends AnttError {
  constructor(message: string, options?: AnttErrorOptions) {
    super(ErrorCode.AUTH, message, options);
    this.name = 'AuthError';
  }
}

export class MessageTooLargeError extends AnttError {
  readonly size: number;
  readonly limit: number;

  constructor(size: number, limit: number) {
    super(
      ErrorCode.MESSAGE_TOO_LARGE,
      `message of ${size} bytes exceeds this connection's limit of ${limit} bytes (option maxMessageBytes)`,
    );
    this.name = 'MessageTooLargeError';
    this.size = size;
    this.limit = limit;
  }
}

/** Wraps an operating-system error (EADDRINUSE, ENETUNREACH, ...) with a message a person can act on. */
export function networkError(action: string, cause: unknown): AnttError {
  const sys = cause as NodeJS.ErrnoException | undefined;
  const detail = sys?.code ? `${sys.code}${sys.message ? `: ${sys.message}` : ''}` : String(cause);
  const code =
    sys?.code === 'ECONNREFUSED'
      ? ErrorCode.REFUSED
      : sys?.code === 'ECONNRESET' || sys?.code === 'EPIPE'
        ? ErrorCode.RESET
        : ErrorCode.NETWORK;
  return new AnttError(code, `${action} failed (${detail})`, { cause });
}

/** Turns whatever an AbortSignal carries into the matching AnttError. */
export function abortReasonToError(signal: AbortSignal, what: string): AnttError {
  const reason: unknown = signal.reason;
  if (AnttError.is(reason)) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new TimeoutError(`${what} timed out`, { cause: reason });
  }
  return new AbortError(`${what} was aborted`, { cause: reason });
}
