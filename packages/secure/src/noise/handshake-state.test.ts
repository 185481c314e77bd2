import { AnttError, ErrorCode } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { CipherState } from './cipher-state.js';
import { generateKeyPair, keyPairFromPrivateKey } from './dh.js';
import { HandshakeState } from './handshake-state.js';
import { parseProtocolName } from './patterns.js';

const XX = 'Noise_XX_25519_ChaChaPoly_SHA256';

describe('HandshakeState', () => {
  it('refuses writing or reading out of turn', () => {
    const initiator = new HandshakeState({ protocolName: XX, initiator: true, s: generateKeyPair() });
    const responder = new HandshakeState({ protocolName: XX, initiator: false, s: generateKeyPair() });
    expect(() => initiator.readMessage(new Uint8Array(32))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_STATE }),
    );
    expect(() => responder.writeMessage()).toThrow(/to be read by this side/);
    responder.readMessage(initiator.writeMessage());
    initiator.readMessage(responder.writeMessage());
    responder.readMessage(initiator.writeMessage());
    expect(initiator.isComplete && responder.isComplete).toBe(true);
    expect(() => initiator.writeMessage()).toThrow(/already complete/);
  });

  it('leaves the state unchanged when a read fails', () => {
    const initiator = new HandshakeState({ protocolName: XX, initiator: true, s: generateKeyPair() });
    const responder = new HandshakeState({ protocolName: XX, initiator: false, s: generateKeyPair() });
    responder.readMessage(initiator.writeMessage());
    const second = responder.writeMessage();
    const hash = Buffer.from(initiator.getHandshakeHash());
    const forged = Uint8Array.from(second);
    forged[40]! ^= 1;
    expect(() => initiator.readMessage(forged)).toThrow(
      /static key in handshake message 2 failed authentication/,
    );
    expect(initiator.getHandshakeHash()).toEqual(hash);
    expect(initiator.remoteStaticKey).toBeUndefined();
    initiator.readMessage(second);
    expect(initiator.remoteStaticKey).toBeDefined();
  });

  it('refuses low-order public keys with an AuthError', () => {
    const responder = new HandshakeState({ protocolName: XX, initiator: false, s: generateKeyPair() });
    responder.readMessage(new Uint8Array(32)); // message 1 carries only e: nothing to check yet
    const initiator = new HandshakeState({ protocolName: XX, initiator: true, s: generateKeyPair() });
    initiator.writeMessage();
    const error = (() => {
      try {
        initiator.readMessage(new Uint8Array(96));
      } catch (caught) {
        return caught;
      }
    })();
    expect(AnttError.is(error) && error.code).toBe(ErrorCode.AUTH);
  });

  it('checks configuration: psk count, static key, protocol names', () => {
    expect(
      () =>
        new HandshakeState({
          protocolName: 'Noise_XXpsk3_25519_ChaChaPoly_SHA256',
          initiator: true,
          s: generateKeyPair(),
        }),
    ).toThrow(/pre-shared key/);
    expect(() => new HandshakeState({ protocolName: XX, initiator: true })).toThrow(/static key pair/);
    expect(() => parseProtocolName('Noise_XX_448_ChaChaPoly_SHA256')).toThrow(/unsupported Noise protocol/);
    expect(() => parseProtocolName('Noise_NNpsk5_25519_ChaChaPoly_SHA256')).toThrow(/does not fit/);
    expect(parseProtocolName('Noise_XXpsk3_25519_AESGCM_SHA256').pattern.messages[2]).toEqual([
      's',
      'se',
      'psk',
    ]);
    expect(() => keyPairFromPrivateKey(new Uint8Array(5))).toThrow(/32 bytes/);
  });

  it('rekeys a CipherState per §4.2 so both sides stay in step', () => {
    const a = new CipherState('ChaChaPoly');
    const b = new CipherState('ChaChaPoly');
    a.initializeKey(new Uint8Array(32).fill(3));
    b.initializeKey(new Uint8Array(32).fill(3));
    a.rekey();
    b.rekey();
    const sealed = a.encryptWithAd(new Uint8Array(0), Buffer.from('after rekey'));
    expect(b.decryptWithAd(new Uint8Array(0), sealed).toString()).toBe('after rekey');
  });
});
