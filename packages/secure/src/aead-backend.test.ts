import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { aeadBackendFor, setAeadBackend, sodiumAead } from './aead-backend.js';
import { Identity } from './identity.js';
import { defaultCipher, SecureHandshake } from './secure-handshake.js';
import { KEY_UPDATE_INTERVAL_PACKETS, OpeningKey, SealingKey, type TransportKeys } from './transport-keys.js';

const secret = new Uint8Array(32).fill(3);
const header = Uint8Array.of(0x41, 0, 0, 0, 9);
// Increasing, and one run crosses a key generation boundary.
const PACKET_NUMBERS = [
  0,
  100,
  KEY_UPDATE_INTERVAL_PACKETS - 2,
  KEY_UPDATE_INTERVAL_PACKETS + 10,
  2 ** 32 + 5,
];
const SIZES_BYTES = [0, 1, 1200, 65536];

function sodiumInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('sodium-native');
    return true;
  } catch {
    return false;
  }
}

/** Keys for `cipher` created on the node:crypto fallback, as on a machine without sodium-native. */
function onNode<T>(create: () => T): T {
  setAeadBackend('node:crypto');
  try {
    return create();
  } finally {
    setAeadBackend('auto');
  }
}

afterEach(() => setAeadBackend('auto'));

describe('AEAD backend', () => {
  it('uses sodium-native for ChaChaPoly wherever it is installed, node:crypto for AESGCM', () => {
    // Installed as an optional dependency: a failed load here means users silently lose the fast path.
    expect(sodiumAead() !== null).toBe(sodiumInstalled());
    expect(aeadBackendFor('ChaChaPoly')).toBe(sodiumInstalled() ? 'sodium-native' : 'node:crypto');
    expect(aeadBackendFor('AESGCM')).toBe('node:crypto');
  });

  it('falls back to node:crypto when switched off, for keys created afterwards', () => {
    setAeadBackend('node:crypto');
    expect(sodiumAead()).toBeNull();
    expect(aeadBackendFor('ChaChaPoly')).toBe('node:crypto');
    const fallback = new SealingKey('ChaChaPoly', secret);
    expect(fallback.backend).toBe('node:crypto');
    setAeadBackend('auto');
    expect(fallback.backend).toBe('node:crypto');
    const receive = new OpeningKey('ChaChaPoly', secret);
    const sealed = fallback.seal(0, header, Buffer.from('fallback'));
    expect(Buffer.from(receive.open(0, header, sealed) ?? []).toString()).toBe('fallback');
  });
});

describe('default cipher', () => {
  it('is ChaChaPoly on libsodium, AESGCM (node:crypto) without it', () => {
    expect(defaultCipher()).toBe(sodiumInstalled() ? 'ChaChaPoly' : 'AESGCM');
    expect(onNode(() => defaultCipher())).toBe('AESGCM');
  });

  it("is the initiator's choice: the responder follows whatever its own default", () => {
    const alice = Identity.generate();
    const bob = Identity.generate();
    for (const initiatorOnNode of [false, true]) {
      const create = () =>
        new SecureHandshake({ role: 'initiator', identity: alice, transport: 'tcp', acceptAnyPeer: true });
      const initiator = initiatorOnNode ? onNode(create) : create();
      const responder = onNode(
        () =>
          new SecureHandshake({ role: 'responder', identity: bob, transport: 'tcp', acceptAnyPeer: true }),
      );
      responder.readMessage(initiator.writeMessage());
      initiator.readMessage(responder.writeMessage());
      responder.readMessage(initiator.writeMessage());
      initiator.readMessage(responder.writeMessage());
      const expected = initiatorOnNode || !sodiumInstalled() ? 'AESGCM' : 'ChaChaPoly';
      expect([initiator.cipher, responder.cipher]).toEqual([expected, expected]);
      const { send } = initiator.split();
      const { receive } = responder.split();
      expect(receive.open(0, header, send.seal(0, header, Buffer.from('ok')))).toEqual(Buffer.from('ok'));
    }
  });
});

describe.skipIf(!sodiumInstalled())('sodium-native and node:crypto interoperate', () => {
  it('seal the same bytes, and each opens what the other sealed', () => {
    const sodiumSend = new SealingKey('ChaChaPoly', secret);
    const nodeSend = onNode(() => new SealingKey('ChaChaPoly', secret));
    const sodiumReceive = new OpeningKey('ChaChaPoly', secret, { replayWindow: false });
    const nodeReceive = onNode(() => new OpeningKey('ChaChaPoly', secret, { replayWindow: false }));
    expect([sodiumSend.backend, nodeSend.backend]).toEqual(['sodium-native', 'node:crypto']);
    expect([sodiumReceive.backend, nodeReceive.backend]).toEqual(['sodium-native', 'node:crypto']);
    for (const packetNumber of PACKET_NUMBERS) {
      for (const [index, bytes] of SIZES_BYTES.entries()) {
        const pn = packetNumber + index;
        const plaintext = Buffer.alloc(bytes);
        for (let i = 0; i < bytes; i++) plaintext[i] = (i * 167 + index * 13 + (i >>> 8)) & 0xff;
        const fromSodium = Buffer.from(sodiumSend.seal(pn, header, plaintext));
        const fromNode = Buffer.from(nodeSend.seal(pn, header, plaintext));
        expect(fromSodium.equals(fromNode), `${bytes} bytes at ${pn}`).toBe(true);
        expect(plaintext.equals(nodeReceive.open(pn, header, fromSodium) ?? Buffer.alloc(1))).toBe(true);
        expect(plaintext.equals(sodiumReceive.open(pn, header, fromNode) ?? Buffer.alloc(1))).toBe(true);
      }
    }
    // And both reject the same forgery.
    const sealed = Uint8Array.from(sodiumSend.seal(2 ** 40, header, Buffer.from('tag')));
    sealed[sealed.length - 1]! ^= 0x80;
    expect(nodeReceive.open(2 ** 40, header, sealed)).toBeNull();
    expect(sodiumReceive.open(2 ** 40, header, sealed)).toBeNull();
  });

  it('lets two peers on different backends complete a handshake and talk both ways', () => {
    const alice = Identity.generate();
    const bob = Identity.generate();
    const initiator = new SecureHandshake({
      role: 'initiator',
      identity: alice,
      transport: 'udp',
      allowedPeers: [bob.peerId],
      cipher: 'ChaChaPoly',
    });
    const responder = new SecureHandshake({
      role: 'responder',
      identity: bob,
      transport: 'udp',
      allowedPeers: [alice.peerId],
    });
    responder.readMessage(initiator.writeMessage());
    initiator.readMessage(responder.writeMessage());
    responder.readMessage(initiator.writeMessage());
    initiator.readMessage(responder.writeMessage());
    expect(responder.cipher).toBe('ChaChaPoly');
    const a: TransportKeys = initiator.split();
    const b: TransportKeys = onNode(() => responder.split());
    expect([a.send.backend, b.send.backend]).toEqual(['sodium-native', 'node:crypto']);
    const toBob = a.send.seal(7, header, Buffer.from('hello bob'));
    expect(Buffer.from(b.receive.open(7, header, toBob) ?? []).toString()).toBe('hello bob');
    const toAlice = b.send.seal(7, header, Buffer.from('hello alice'));
    expect(Buffer.from(a.receive.open(7, header, toAlice) ?? []).toString()).toBe('hello alice');
  });
});
