import { type AnttError, abortReasonToError, TimeoutError } from './errors.js';
import type { WaitOptions } from './types.js';

/** A wait's combined signal (caller's signal plus timeout) and the one place that releases it. */
export interface ScopedSignal {
  signal: AbortSignal;
  /** Turns the signal's reason into the AnttError a caller should see. */
  error(): AnttError;
  /** Ends the wait from inside (for instance `destroy()` during `connect()`). */
  abort(reason: Error): void;
  /** When the timeout fires, in `Date.now()` milliseconds; undefined without a timeout. */
  deadline: number | undefined;
  done(): void;
}

/**
 * Combines `options.signal` with `options.timeout` (or `defaultTimeoutMs`). Throws at once if the caller's
 * signal has already fired. `what` names the operation in error messages ("connect to 10.0.0.2:4456").
 */
export function scopedSignal(
  options: WaitOptions | undefined,
  defaultTimeoutMs: number | undefined,
  what: string,
): ScopedSignal {
  const outer = options?.signal;
  if (outer?.aborted) throw abortReasonToError(outer, what);
  const timeoutMs = options?.timeout && options.timeout > 0 ? options.timeout : defaultTimeoutMs;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onOuterAbort = (): void => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  if (timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
    timer = setTimeout(() => {
      controller.abort(new TimeoutError(`${what} timed out after ${formatMs(timeoutMs)}`));
    }, timeoutMs);
    timer.unref?.();
  }
  return {
    signal: controller.signal,
    deadline: timer === undefined ? undefined : Date.now() + (timeoutMs as number),
    abort: (reason) => controller.abort(reason),
    error: () => abortReasonToError(controller.signal, what),
    done: () => {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
