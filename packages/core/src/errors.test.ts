import { describe, expect, it } from 'vitest';
import {
  AnttError,
  abortReasonToError,
  ClosedError,
  ErrorCode,
  MessageTooLargeError,
  networkError,
  TimeoutError,
} from './errors.js';

describe('AnttError', () => {
  it('carries a stable code, a name and a brand that survives copies of the package', () => {
    const error = new TimeoutError('peer 203.0.113.2:4456 did not answer the handshake within 5 s');
    expect(error.code).toBe('ANTT_ERR_TIMEOUT');
    expect(error).toBeInstanceOf(AnttError);
    expect(error.name).toBe('TimeoutError');
    expect(AnttError.is(error)).toBe(true);
    expect(AnttError.is(new Error('x'))).toBe(false);
    expect(AnttError.is(null)).toBe(false);
    const foreign = Object.assign(new Error('x'), {
      [Symbol.for('antt.error')]: true,
      code: 'ANTT_ERR_CLOSED',
    });
    expect(AnttError.is(foreign)).toBe(true);
  });

  it('names the limit in a too-large error', () => {
    const error = new MessageTooLargeError(2048, 1024);
    expect(error.code).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect(error.message).toContain('1024');
    expect(error.message).toContain('maxMessageBytes');
  });

  it('maps system errors and abort reasons', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(networkError('connect to 127.0.0.1:9', refused).code).toBe(ErrorCode.REFUSED);
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(networkError('the connection to 127.0.0.1:9', reset).code).toBe(ErrorCode.RESET);
    const inUse = Object.assign(new Error('bind EADDRINUSE'), { code: 'EADDRINUSE' });
    const wrapped = networkError('bind to port 9', inUse);
    expect(wrapped.code).toBe(ErrorCode.NETWORK);
    expect(wrapped.message).toContain('EADDRINUSE');
    expect(wrapped.cause).toBe(inUse);
    expect(abortReasonToError(AbortSignal.abort(), 'receive()').code).toBe(ErrorCode.ABORTED);
    const closed = new ClosedError();
    expect(abortReasonToError(AbortSignal.abort(closed), 'x')).toBe(closed);
    const timedOut = AbortSignal.abort(new DOMException('t', 'TimeoutError'));
    expect(abortReasonToError(timedOut, 'connect').code).toBe(ErrorCode.TIMEOUT);
  });
});
