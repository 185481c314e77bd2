import { createRequire } from 'node:module';
import { loadNative } from '@antt/native';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AeadBackendChoice,
  type AeadBackendName,
  aeadBackendFor,
  nativeAead,
  setAeadBackend,
  sodiumAead,
} from './aead-backend.js';
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

const nativeBuilt = loadNative() !== null;

/** Runs `create` with keys on `choice`'s backends, as on a machine without the skipped libraries. */
function on<T>(choice: AeadBackendChoice, create: () => T): T {
  setAeadBackend(choice);
  try {
    return create();
  } finally {
    setAeadBackend('auto');
  }
}
const onNode = <T>(create: () => T): T => on('node:crypto', create);

afterEach(() => setAeadBackend('auto'));

describe('AEAD backend', () => {
  it('uses the addon for both ciphers wherever it is built', () => {
    // @antt/native's own tests fail under CI when it was not built; here its absence is a fallback.
    expect(nativeAead() !== null).toBe(nativeBuilt);
    expect(aeadBackendFor('AESGCM')).toBe(nativeBuilt ? '@antt/native' : 'node:crypto');
    const chacha = sodiumInstalled() ? 'sodium-native' : 'node:crypto';
    expect(aeadBackendFor('ChaChaPoly')).toBe(nativeBuilt ? '@antt/native' : chacha);
  });

  it('uses sodium-native for ChaChaPoly wherever it is installed and the addon is skipped', () => {
    // Installed as an optional dependency: a failed load here means users silently lose the fast path.
    expect(sodiumAead() !== null).toBe(sodiumInstalled());
    on('sodium-native', () => {
      expect(nativeAead()).toBeNull();
      expect(aeadBackendFor('ChaChaPoly')).toBe(sodiumInstalled() ? 'sodium-native' : 'node:crypto');
      expect(aeadBackendFor('AESGCM')).toBe('node:crypto');
    });
  });

  it('falls back to node:crypto when switched off, for keys created afterwards', () => {
    setAeadBackend('node:crypto');
    expect(sodiumAead()).toBeNull();
    expect(nativeAead()).toBeNull();
    expect(aeadBackendFor('ChaChaPoly')).toBe('node:crypto');
    expect(aeadBackendFor('AESGCM')).toBe('node:crypto');
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
  it('is AESGCM on the addon, ChaChaPoly on libsodium alone, AESGCM on node:crypto alone', () => {
    expect(defaultCipher()).toBe(nativeBuilt || !sodiumInstalled() ? 'AESGCM' : 'ChaChaPoly');
    expect(on('sodium-native', () => defaultCipher())).toBe(sodiumInstalled() ? 'ChaChaPoly' : 'AESGCM');
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
      const expected = initiatorOnNode || nativeBuilt || !sodiumInstalled() ? 'AESGCM' : 'ChaChaPoly';
      expect([initiator.cipher, responder.cipher]).toEqual([expected, expected]);
      const { send } = initiator.split();
      const { receive } = responder.split();
      expect(receive.open(0, header, send.seal(0, header, Buffer.from('ok')))).toEqual(Buffer.from('ok'));
    }
  });
});

/** Every backend this machine has, with the choice that selects it. */
const BACKENDS = (
  [
    ['@antt/native', 'auto', nativeBuilt],
    ['sodium-native', 'sodium-native', sodiumInstalled()],
    ['node:crypto', 'node:crypto', true],
  ] as const
).filter(([, , present]) => present);

describe('every backend interoperates with every other', () => {
  for (const cipher of ['ChaChaPoly', 'AESGCM'] as const) {
    it(`seals the same ${cipher} bytes, and each opens what any other sealed`, () => {
      const keys = BACKENDS.filter(([name]) => cipher === 'ChaChaPoly' || name !== 'sodium-native').map(
        ([name, choice]) =>
          on(choice, () => {
            const send = new SealingKey(cipher, secret);
            const receive = new OpeningKey(cipher, secret, { replayWindow: false });
            return { name, send, receive };
          }),
      );
      expect(keys.map((k) => k.send.backend)).toEqual(keys.map((k) => k.name as AeadBackendName));
      expect(keys.map((k) => k.receive.backend)).toEqual(keys.map((k) => k.name as AeadBackendName));
      if (nativeBuilt) expect(keys.length).toBeGreaterThan(1);
      for (const packetNumber of PACKET_NUMBERS) {
        for (const [index, bytes] of SIZES_BYTES.entries()) {
          const pn = packetNumber + index;
          const plaintext = Buffer.alloc(bytes);
          for (let i = 0; i < bytes; i++) plaintext[i] = (i * 167 + index * 13 + (i >>> 8)) & 0xff;
          const sealed = keys.map((k) => Buffer.from(k.send.seal(pn, header, plaintext)));
          for (const [i, bytesSealed] of sealed.entries()) {
            expect(bytesSealed.equals(sealed[0]!), `${keys[i]!.name}, ${bytes} bytes at ${pn}`).toBe(true);
          }
          for (const k of keys) {
            const opened = k.receive.open(pn, header, sealed[sealed.length - 1]!);
            expect(plaintext.equals(opened ?? Buffer.alloc(1)), `${k.name} opens`).toBe(true);
          }
        }
      }
      // And all reject the same forgery.
      const forged = Uint8Array.from(keys[0]!.send.seal(2 ** 40, header, Buffer.from('tag')));
      forged[forged.length - 1]! ^= 0x80;
      for (const k of keys) expect(k.receive.open(2 ** 40, header, forged)).toBeNull();
    });
  }
});

describe.skipIf(!sodiumInstalled() && !nativeBuilt)('peers on different backends', () => {
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
    expect([a.send.backend, b.send.backend]).toEqual([BACKENDS[0]![0], 'node:crypto']);
    const toBob = a.send.seal(7, header, Buffer.from('hello bob'));
    expect(Buffer.from(b.receive.open(7, header, toBob) ?? []).toString()).toBe('hello bob');
    const toAlice = b.send.seal(7, header, Buffer.from('hello alice'));
    expect(Buffer.from(a.receive.open(7, header, toAlice) ?? []).toString()).toBe('hello alice');
  });
});
