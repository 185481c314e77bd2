import { describe, expect, it } from 'vitest';
import fixture from '../../test/fixtures/noise-vectors.json' with { type: 'json' };
import { keyPairFromPrivateKey } from './dh.js';
import { HandshakeState } from './handshake-state.js';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_ephemeral: string;
  init_static?: string;
  init_psks?: string[];
  resp_prologue: string;
  resp_ephemeral: string;
  resp_static?: string;
  resp_psks?: string[];
  messages: { payload: string; ciphertext: string }[];
}

const hex = (text: string) => Buffer.from(text, 'hex');

function side(vector: Vector, initiator: boolean): HandshakeState {
  const prefix = initiator ? 'init' : 'resp';
  const staticKey = vector[`${prefix}_static`];
  const psks = vector[`${prefix}_psks`];
  return new HandshakeState({
    protocolName: vector.protocol_name,
    initiator,
    prologue: hex(vector[`${prefix}_prologue`]),
    e: keyPairFromPrivateKey(hex(vector[`${prefix}_ephemeral`])),
    ...(staticKey ? { s: keyPairFromPrivateKey(hex(staticKey)) } : {}),
    ...(psks ? { psks: psks.map(hex) } : {}),
  });
}

// Source: haskell-cryptography/cacophony vectors/cacophony.txt (see test/fixtures/noise-vectors.json).
describe('Noise test vectors (cacophony)', () => {
  for (const vector of fixture.vectors as Vector[]) {
    it(`${vector.protocol_name}: handshake and transport messages match byte for byte`, () => {
      const initiator = side(vector, true);
      const responder = side(vector, false);
      let index = 0;
      for (; !initiator.isComplete; index++) {
        const message = vector.messages[index]!;
        const [writer, reader] = index % 2 === 0 ? [initiator, responder] : [responder, initiator];
        const sent = writer.writeMessage(hex(message.payload));
        expect(sent.toString('hex'), `message ${index}`).toBe(message.ciphertext);
        expect(reader.readMessage(sent).toString('hex')).toBe(message.payload);
      }
      expect(responder.isComplete).toBe(true);
      expect(initiator.getHandshakeHash()).toEqual(responder.getHandshakeHash());
      const [initToResp, respToInit] = initiator.split();
      const [initToRespR, respToInitR] = responder.split();
      for (; index < vector.messages.length; index++) {
        const message = vector.messages[index]!;
        const [send, receive] = index % 2 === 0 ? [initToResp, initToRespR] : [respToInit, respToInitR];
        const sent = send.encryptWithAd(new Uint8Array(0), hex(message.payload));
        expect(sent.toString('hex'), `message ${index}`).toBe(message.ciphertext);
        expect(receive.decryptWithAd(new Uint8Array(0), sent).toString('hex')).toBe(message.payload);
      }
    });
  }

  it('covers the suites Antt uses', () => {
    const names = (fixture.vectors as Vector[]).map((vector) => vector.protocol_name);
    expect(names).toEqual(
      expect.arrayContaining([
        'Noise_XX_25519_ChaChaPoly_SHA256',
        'Noise_XX_25519_AESGCM_SHA256',
        'Noise_XXpsk3_25519_ChaChaPoly_SHA256',
      ]),
    );
  });
});
