import { afterEach, expect, it, vi } from 'vitest';
import type { RendezvousServer as Server } from '../src/rendezvous/server.js';

// Wraps @antt/secure's derivePassphraseKey (as imported by connect.ts) to see when connect() calls it.
vi.mock('@antt/secure', async (original) => {
  const actual = await original<typeof import('@antt/secure')>();
  return { ...actual, derivePassphraseKey: vi.fn(actual.derivePassphraseKey) };
});

const { derivePassphraseKey } = await import('@antt/secure');
const { connect } = await import('../src/connect.js');
const { RendezvousServer } = await import('../src/rendezvous/server.js');

let server: Server | undefined;
afterEach(async () => {
  await server?.close();
});

it("connect() starts stretching the passphrase before the network stages, with the meeting's context", async () => {
  server = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
  // No peer ever comes: the call ends in the exchange stage, long before any handshake.
  const failure = await connect({
    rendezvous: `127.0.0.1:${server.address.port}`,
    name: 'alone',
    passphrase: 'correct horse battery staple',
    lanAddresses: ['127.0.0.1'],
    timeout: 1_500,
  }).catch((error: unknown) => error);
  expect(failure).toMatchObject({ stage: 'exchange' });
  expect(derivePassphraseKey).toHaveBeenCalledWith('correct horse battery staple', {
    context: 'antt-rendezvous\0alone\0alone',
  });
});
