/**
 * `insecure: true` is for benchmarks and debugging only: no handshake, no encryption, no idea who is at
 * the other end. Transports call warnInsecure() when a connection or endpoint is created that way so
 * the choice is never silent.
 */
export const INSECURE_WARNING_CODE = 'ANTT_INSECURE';

let warned = false;

/** Emits one process warning per process (code ANTT_INSECURE) naming what runs without security. */
export function warnInsecure(what: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    `${what} runs with insecure: true: traffic is neither encrypted nor authenticated and anyone on the ` +
      'path can read or forge it. Use this only for benchmarks and debugging.',
    { code: INSECURE_WARNING_CODE, type: 'SecurityWarning' },
  );
}
