/**
 * Fuzzing every handshake message parser: random bytes and mutated genuine messages at each step, on
 * both sides. The only acceptable outcome besides success is an AnttError (ProtocolError, AuthError).
 * fast-check prints the seed of a failure; replay it with ANTT_TEST_SEED or fc's `seed` option.
 */
import { AnttError, ErrorCode } from '@antt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HANDSHAKE_VERSION } from './handshake-message.js';
import { Identity } from './identity.js';
import { HandshakeState } from './noise/handshake-state.js';
import { SecureHandshake } from './secure-handshake.js';

const alice = Identity.generate();
const bob = Identity.generate();
const PSK = new Uint8Array(32).fill(7);
const seed = process.env.ANTT_TEST_SEED ? Number(process.env.ANTT_TEST_SEED) : undefined;
const RUNS = 700;

/** Handshakes advanced so that `reader` expects message `step` (1..4) next, plus the genuine message. */
function at(step: 1 | 2 | 3 | 4, psk: boolean) {
  const options = { transport: 'udp', acceptAnyPeer: true, ...(psk ? { psk: PSK } : {}) };
  const i = new SecureHandshake({ ...options, role: 'initiator', identity: alice });
  const r = new SecureHandshake({ ...options, role: 'responder', identity: bob });
  let [writer, reader] = [i, r];
  for (let n = 1; n < step; n++) {
    reader.readMessage(writer.writeMessage());
    [writer, reader] = [reader, writer];
  }
  return { reader, genuine: writer.writeMessage() };
}

function onlyAnttErrors(read: () => unknown): void {
  try {
    read();
  } catch (error) {
    if (!AnttError.is(error)) throw error;
    expect([ErrorCode.PROTOCOL, ErrorCode.AUTH]).toContain(error.code);
  }
}

const arbitraryInput = (genuine: Uint8Array) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    // Valid-looking header, random body: gets past the framing into Noise.
    fc
      .tuple(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.uint8Array({ maxLength: 200 }),
      )
      .map(([type, suite, body]) => Uint8Array.from([HANDSHAKE_VERSION, type, suite, ...body])),
    // The genuine message with a few bytes changed, truncated or extended.
    fc
      .tuple(
        fc.array(fc.tuple(fc.nat(genuine.length - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: -20, max: 20 }),
      )
      .map(([flips, resize]) => {
        const copy = Uint8Array.from(genuine);
        for (const [index, mask] of flips) copy[index]! ^= mask;
        if (resize < 0) return copy.subarray(0, Math.max(0, copy.length + resize));
        return Uint8Array.from([...copy, ...new Uint8Array(resize)]);
      }),
  );

describe('handshake message parsers under fuzzing', () => {
  for (const psk of [false, true]) {
    for (const step of [1, 2, 3, 4] as const) {
      it(`message ${step}${psk ? ' (passphrase)' : ''}: only AnttErrors, and the genuine message still works`, () => {
        const { reader, genuine } = at(step, psk);
        fc.assert(
          fc.property(arbitraryInput(genuine), (input) => {
            const { reader: fresh } = at(step, psk);
            onlyAnttErrors(() => fresh.readMessage(input));
          }),
          { numRuns: RUNS / 4, ...(seed !== undefined ? { seed } : {}) },
        );
        // Garbage on one instance, then the genuine message: atomic reads mean it still succeeds.
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 120 }), (input) => {
            // A (forgeable) reject or a passphrase mismatch ends the handshake; later reads are caller errors.
            if (!reader.failed) onlyAnttErrors(() => reader.readMessage(input));
          }),
          { numRuns: 50, ...(seed !== undefined ? { seed } : {}) },
        );
        if (!reader.failed) reader.readMessage(genuine);
      });
    }
  }

  it('raw Noise HandshakeState.readMessage: only AnttErrors for any bytes', () => {
    const responderKeys = bob.keyPair;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (first, third) => {
        const initiator = new HandshakeState({
          protocolName: 'Noise_XX_25519_ChaChaPoly_SHA256',
          initiator: true,
          s: alice.keyPair,
        });
        const responder = new HandshakeState({
          protocolName: 'Noise_XX_25519_ChaChaPoly_SHA256',
          initiator: false,
          s: responderKeys,
        });
        onlyAnttErrors(() => responder.readMessage(first));
        if (responder.isMyTurn) return;
        responder.readMessage(initiator.writeMessage());
        initiator.readMessage(responder.writeMessage());
        onlyAnttErrors(() => responder.readMessage(third));
      }),
      { numRuns: RUNS, ...(seed !== undefined ? { seed } : {}) },
    );
  });
});
