import { expect, it } from 'vitest';
import { ErrorCode } from './errors.js';
import { formatMs, scopedSignal } from './signals.js';

it('fires a timeout as ANTT_ERR_TIMEOUT naming the operation', async () => {
  const scope = scopedSignal({ timeout: 20 }, undefined, 'connect to 10.0.0.2:4456');
  await new Promise((resolve) => scope.signal.addEventListener('abort', resolve));
  const error = scope.error();
  expect(error.code).toBe(ErrorCode.TIMEOUT);
  expect(error.message).toBe('connect to 10.0.0.2:4456 timed out after 20 ms');
  scope.done();
});

it('follows the caller signal and throws at once when it already fired', () => {
  const controller = new AbortController();
  const scope = scopedSignal({ signal: controller.signal }, 1000, 'receive()');
  controller.abort();
  expect(scope.signal.aborted).toBe(true);
  expect(scope.error().code).toBe(ErrorCode.ABORTED);
  scope.done();
  expect(() => scopedSignal({ signal: AbortSignal.abort() }, 1000, 'x')).toThrowError(
    expect.objectContaining({ code: ErrorCode.ABORTED }),
  );
});

it('formats durations for people', () => {
  expect(formatMs(5000)).toBe('5 s');
  expect(formatMs(1500)).toBe('1.5 s');
  expect(formatMs(25)).toBe('25 ms');
});
