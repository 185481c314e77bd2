import { runConnectionSuite } from './conformance.js';
import { createMemoryPair } from './memory-pair.js';

const IDLE_TIMEOUT_MS = 1_000;

runConnectionSuite('in-memory pair', {
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxMessageBytes: 80 * 1024 * 1024,
  createPair: async () =>
    createMemoryPair({
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      receiveBufferBytes: 4 * 1024 * 1024,
      maxMessageBytes: 80 * 1024 * 1024,
    }),
});
