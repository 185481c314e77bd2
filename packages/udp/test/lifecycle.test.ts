/** Keepalive, simultaneous close and endpoint bookkeeping over loopback. */
import { afterEach, expect, it } from 'vitest';
import { loopbackPair } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openPair(idleTimeout: number) {
  const pair = await loopbackPair({ idleTimeout });
  cleanups.push(
    () => pair.endpointA.close(),
    () => pair.endpointB.close(),
  );
  await Promise.all([pair.a.connect(), pair.b.connect()]);
  return pair;
}

it('stays open through silences longer than the idle timeout: keepalives answer for it', {
  timeout: 10_000,
}, async () => {
  const { a, b } = await openPair(600);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect([a.state, b.state]).toEqual(['open', 'open']);
  expect(a.stats().packetsSent).toBeGreaterThan(3); // PINGs went out meanwhile
  await a.send(Uint8Array.of(1));
  expect(Array.from(await b.receive({ timeout: 2_000 }))).toEqual([1]);
});

it('closes cleanly when both sides close at the same moment', { timeout: 10_000 }, async () => {
  const { a, b } = await openPair(3_000);
  await a.send(new Uint8Array(100_000));
  await b.send(new Uint8Array(50_000));
  await Promise.all([a.close({ timeout: 5_000 }), b.close({ timeout: 5_000 })]);
  expect([a.state, b.state]).toEqual(['closed', 'closed']);
  expect([a.closeError, b.closeError]).toEqual([undefined, undefined]);
});

it('forgets a closed connection and counts its stray datagrams', { timeout: 10_000 }, async () => {
  const { a, b, endpointA, endpointB } = await openPair(3_000);
  expect(endpointB.stats().connections).toBe(1);
  await a.close({ timeout: 5_000 });
  await new Promise((resolve) => (b.state === 'closed' ? resolve(undefined) : b.once('close', resolve)));
  // The remote end lingers briefly to acknowledge retransmissions (RFC 9000 §10.2 draining), then goes.
  await new Promise((resolve) => setTimeout(resolve, 3_500));
  expect(endpointA.stats().connections).toBe(0);
  expect(endpointB.stats().connections).toBe(0);
});
