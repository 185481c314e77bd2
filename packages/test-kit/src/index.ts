/**
 * @packageDocumentation
 * Antt's private test kit: the conformance suite every transport runs, an in-memory pair that proves the
 * suite, and (in `network.ts`) the impairment relay and the network-namespace lab.
 *
 * ```ts
 * import { runConnectionSuite, createMemoryPair } from '@antt/test-kit';
 * runConnectionSuite('memory', {
 *   idleTimeoutMs: 1000,
 *   createPair: async () => createMemoryPair({ idleTimeoutMs: 1000 }),
 * });
 * ```
 */
export {
  type ConnectionPair,
  type ConnectionSuiteOptions,
  expectCode,
  filled,
  runConnectionSuite,
  sha256,
  sleep,
} from './conformance.js';
export {
  createMemoryPair,
  type MemoryConnection,
  type MemoryPair,
  type MemoryPairOptions,
} from './memory-pair.js';
export * from './network.js';
