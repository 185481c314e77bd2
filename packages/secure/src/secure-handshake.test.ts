import { AnttError, ErrorCode } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { Identity } from './identity.js';
import { derivePassphraseKey } from './passphrase.js';
import { chooseRoles } from './roles.js';
import { SecureContext } from './secure-context.js';
import { defaultCipher, SecureHandshake, type SecureHandshakeOptions } from './secure-handshake.js';

const alice = Identity.generate();
const bob = Identity.generate();
const mallory = Identity.generate();

type Side = Omit<SecureHandshakeOptions, 'role' | 'identity' | 'transport'> & {
  identity?: Identity;
  transport?: string;
};

function pair(initiator: Side, responder: Side) {
  return {
    i: new SecureHandshake({ transport: 'udp', identity: alice, ...initiator, role: 'initiator' }),
    r: new SecureHandshake({ transport: 'udp', identity: bob, ...responder, role: 'responder' }),
  };
}

/** Runs the four messages; returns the messages exchanged. */
function run(i: SecureHandshake, r: SecureHandshake): Uint8Array[] {
  const messages: Uint8Array[] = [];
  let [writer, reader] = [i, r];
  while (!(i.confirmed && r.confirmed)) {
    const message = writer.writeMessage();
    messages.push(message);
    reader.readMessage(message);
    [writer, reader] = [reader, writer];
  }
  return messages;
}

function caught(fn: () => unknown): AnttError {
  try {
    fn();
  } catch (error) {
    if (!AnttError.is(error)) throw new Error(`expected an AnttError, got ${String(error)}`);
    return error;
  }
  throw new Error('expected a throw');
}

describe('SecureHandshake', () => {
  it('runs XX with allow lists: both sides learn and check each other, keys interoperate', () => {
    const { i, r } = pair({ allowedPeers: [bob.peerId] }, { allowedPeers: [alice.peerId] });
    expect(i.nextStep).toBe('write');
    expect(r.nextStep).toBe('read');
    const messages = run(i, r);
    expect(messages).toHaveLength(4);
    expect(i.remotePeerId).toBe(bob.peerId);
    expect(r.remotePeerId).toBe(alice.peerId);
    expect(i.nextStep).toBe('done');
    expect(i.handshakeHash).toEqual(r.handshakeHash);
    const a = i.split();
    const b = r.split();
    const header = Uint8Array.of(9, 9);
    expect(
      Buffer.from(b.receive.open(1, header, a.send.seal(1, header, Buffer.from('ping')))!).toString(),
    ).toBe('ping');
    expect(
      Buffer.from(a.receive.open(1, header, b.send.seal(1, header, Buffer.from('pong')))!).toString(),
    ).toBe('pong');
    expect(() => i.split()).toThrow(/only once/);
  });

  it('lets the responder follow the initiator’s AES-GCM choice', () => {
    const { i, r } = pair({ acceptAnyPeer: true, cipher: 'AESGCM' }, { acceptAnyPeer: true });
    run(i, r);
    expect(r.cipher).toBe('AESGCM');
    const a = i.split();
    const b = r.split();
    const opened = b.receive.open(0, new Uint8Array(0), a.send.seal(0, new Uint8Array(0), Uint8Array.of(1)));
    expect(Uint8Array.from(opened!)).toEqual(Uint8Array.of(1));
  });

  it('runs XXpsk3 with the same passphrase, combined with an allow list', async () => {
    const psk = await derivePassphraseKey('open sesame');
    const { i, r } = pair({ psk }, { psk, allowedPeers: [alice.peerId] });
    run(i, r);
    expect(r.remotePeerId).toBe(alice.peerId);
  });

  it('fails a wrong passphrase on the responder, and tells the initiator why', async () => {
    const { i, r } = pair(
      { psk: await derivePassphraseKey('open sesame') },
      { psk: await derivePassphraseKey('open sesane') },
    );
    r.readMessage(i.writeMessage());
    i.readMessage(r.writeMessage());
    const error = caught(() => r.readMessage(i.writeMessage()));
    expect(error.code).toBe(ErrorCode.AUTH);
    expect(error.message).toBe('the peer did not prove it knows the passphrase (wrong passphrase?)');
    const told = caught(() => i.readMessage(r.rejectMessage()));
    expect(told.code).toBe(ErrorCode.AUTH);
    expect(told.message).toMatch(/wrong passphrase/);
    expect(i.failed).toBe(true);
  });

  it('refuses an unknown peer id on either side, naming it', () => {
    {
      const { i, r } = pair({ allowedPeers: [mallory.peerId] }, { acceptAnyPeer: true });
      r.readMessage(i.writeMessage());
      const error = caught(() => i.readMessage(r.writeMessage()));
      expect(error.message).toBe(`peer id ${bob.peerId} is not in the allowed list`);
      expect(i.failed).toBe(true);
      const told = caught(() => r.readMessage(i.rejectMessage()));
      expect(told.message).toMatch(/our peer id is not in its allowed list/);
    }
    {
      const { i, r } = pair({ acceptAnyPeer: true }, { allowedPeers: [mallory.peerId] });
      r.readMessage(i.writeMessage());
      i.readMessage(r.writeMessage());
      const error = caught(() => r.readMessage(i.writeMessage()));
      expect(error.code).toBe(ErrorCode.AUTH);
      expect(error.message).toBe(`peer id ${alice.peerId} is not in the allowed list`);
      expect(r.failed).toBe(true);
      expect(r.remotePeerId).toBeUndefined();
    }
  });

  it('explains a passphrase on one side only', async () => {
    const psk = await derivePassphraseKey('open sesame');
    const { i, r } = pair({ psk }, { acceptAnyPeer: true });
    const error = caught(() => r.readMessage(i.writeMessage()));
    expect(error.message).toBe('the peer uses a passphrase but none is configured here');
    expect(caught(() => i.readMessage(r.rejectMessage())).message).toMatch(
      /one side is configured with a passphrase/,
    );
  });

  it('names an older or newer handshake version as a protocol error', () => {
    const { i, r } = pair({ acceptAnyPeer: true }, { acceptAnyPeer: true });
    const first = i.writeMessage();
    first[0] = 2;
    const error = caught(() => r.readMessage(first));
    expect(error.code).toBe(ErrorCode.PROTOCOL);
    expect(error.message).toMatch(/^peer speaks Antt handshake version 2, we speak 1/);
  });

  it('fails authentication when the two sides bind different prologues', () => {
    const { i, r } = pair({ acceptAnyPeer: true, transport: 'tcp' }, { acceptAnyPeer: true });
    r.readMessage(i.writeMessage());
    const error = caught(() => i.readMessage(r.writeMessage()));
    expect(error.code).toBe(ErrorCode.AUTH);
    expect(error.message).toMatch(/different context/);
  });

  it('refuses out-of-order calls with INVALID_STATE', () => {
    const { i, r } = pair({ acceptAnyPeer: true }, { acceptAnyPeer: true });
    expect(caught(() => i.readMessage(new Uint8Array(40))).code).toBe(ErrorCode.INVALID_STATE);
    expect(caught(() => r.writeMessage()).code).toBe(ErrorCode.INVALID_STATE);
    expect(caught(() => i.split()).code).toBe(ErrorCode.INVALID_STATE);
    const first = i.writeMessage();
    expect(caught(() => i.writeMessage()).code).toBe(ErrorCode.INVALID_STATE);
    r.readMessage(first);
    const second = r.writeMessage();
    // Replaying message 1 where message 2 is expected is a protocol error, and changes nothing.
    expect(caught(() => i.readMessage(first)).message).toBe('expected handshake message 2, got message 1');
    i.readMessage(second);
  });

  it('rejects messages that are too short or too long, without changing state', () => {
    const { i, r } = pair({ acceptAnyPeer: true }, { acceptAnyPeer: true });
    r.readMessage(i.writeMessage());
    const second = r.writeMessage();
    for (const bad of [
      second.subarray(0, 2),
      second.subarray(0, 20),
      second.subarray(0, second.length - 1),
    ]) {
      const error = caught(() => i.readMessage(bad));
      expect([ErrorCode.PROTOCOL, ErrorCode.AUTH]).toContain(error.code);
      expect(i.failed).toBe(false);
    }
    expect(caught(() => i.readMessage(new Uint8Array(70_000))).code).toBe(ErrorCode.PROTOCOL);
    i.readMessage(second);
    expect(i.remotePeerId).toBe(bob.peerId);
  });

  it('turns every tampered byte of every message into AuthError or ProtocolError, then completes', async () => {
    const psk = await derivePassphraseKey('tamper test');
    const { i, r } = pair({ psk, allowedPeers: [bob.peerId] }, { psk, allowedPeers: [alice.peerId] });
    let [writer, reader] = [i, r];
    let index = 0;
    while (!(i.confirmed && r.confirmed)) {
      const message = writer.writeMessage(Buffer.from(`payload ${index}`));
      for (let byte = 0; byte < message.length; byte++) {
        const tampered = Uint8Array.from(message);
        tampered[byte]! ^= 0x40;
        const error = caught(() => reader.readMessage(tampered));
        expect([ErrorCode.AUTH, ErrorCode.PROTOCOL], `message ${index + 1} byte ${byte}`).toContain(
          error.code,
        );
        // The suite byte of message 1 changes who needs a passphrase: a terminal, explained failure.
        if (reader.failed) {
          expect(index === 0 && byte === 2).toBe(true);
          return;
        }
      }
      expect(Buffer.from(reader.readMessage(message)).toString()).toBe(`payload ${index}`);
      [writer, reader] = [reader, writer];
      index++;
    }
  });

  it('requires saying who may connect', () => {
    const error = caught(() => new SecureHandshake({ role: 'initiator', identity: alice, transport: 'udp' }));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.message).toMatch(/acceptAnyPeer: true/);
  });

  it('builds handshakes from a SecureContext resolved once per endpoint', async () => {
    const server = await SecureContext.create({
      identity: bob,
      passphrase: 'ctx',
      passphraseContext: 'room',
    });
    const client = await SecureContext.create({
      identity: alice,
      passphrase: 'ctx',
      passphraseContext: 'room',
    });
    const i = client.handshake({ role: 'initiator', transport: 'tcp', prologue: Uint8Array.of(1, 2) });
    const r = server.handshake({ role: 'responder', transport: 'tcp', prologue: Uint8Array.of(1, 2) });
    run(i, r);
    expect(i.remotePeerId).toBe(server.peerId);
    await expect(SecureContext.create({ identity: bob })).rejects.toThrow(/say who may connect/);
  });

  it("takes the transport's cipher unless the endpoint names one; the responder follows", async () => {
    const plain = await SecureContext.create({ identity: alice, acceptAnyPeer: true });
    const chacha = await SecureContext.create({ identity: bob, acceptAnyPeer: true, cipher: 'ChaChaPoly' });
    const cases = [
      [plain, chacha, 'AESGCM'],
      [chacha, plain, 'ChaChaPoly'],
    ] as const;
    for (const [initiatorSide, responderSide, expected] of cases) {
      const i = initiatorSide.handshake({ role: 'initiator', transport: 'tcp', cipher: 'AESGCM' });
      const r = responderSide.handshake({ role: 'responder', transport: 'tcp', cipher: 'AESGCM' });
      run(i, r);
      expect([i.cipher, r.cipher]).toEqual([expected, expected]);
    }
    const i = plain.handshake({ role: 'initiator', transport: 'udp' });
    run(i, chacha.handshake({ role: 'responder', transport: 'udp', cipher: 'AESGCM' }));
    expect(i.cipher).toBe(defaultCipher());
  });

  it('SecureHandshake.create derives the passphrase key', async () => {
    const i = await SecureHandshake.create({
      role: 'initiator',
      identity: alice,
      transport: 'udp',
      passphrase: 'p',
    });
    const r = await SecureHandshake.create({
      role: 'responder',
      identity: bob,
      transport: 'udp',
      passphrase: 'p',
    });
    run(i, r);
    expect(r.remotePeerId).toBe(alice.peerId);
  });
});

describe('chooseRoles', () => {
  it('gives the two sides opposite roles from the same pair of nonces', () => {
    const a = Uint8Array.of(1, 2, 3, 4);
    const b = Uint8Array.of(1, 2, 3, 5);
    expect(chooseRoles(a, b)).toBe('responder');
    expect(chooseRoles(b, a)).toBe('initiator');
    expect(() => chooseRoles(a, a)).toThrow(/same role nonce/);
    expect(() => chooseRoles(a, Uint8Array.of(1))).toThrow(/equal length/);
  });
});
