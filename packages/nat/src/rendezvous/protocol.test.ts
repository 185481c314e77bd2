import { AnttError, ErrorCode } from '@antt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeStunMessage, isStunMessage, newTransactionId } from '../stun/message.js';
import {
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  isRendezvousMessage,
  MessageType,
  PeerMappingStatus,
  REQUEST_MIN_BYTES,
  RegisterStatus,
  RelayStatus,
  type RendezvousMessage,
} from './protocol.js';

const tid = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const cookie = new Uint8Array(16).fill(7);
const instance = new Uint8Array(8).fill(9);

const samples: RendezvousMessage[] = [
  {
    type: MessageType.REGISTER,
    transactionId: tid,
    cookie,
    instance,
    name: 'meeting-ü',
    peerId: 'K5QW-3MZA-P7XD-2HJE-Q4RT-B6NY-CUVL-ZS3F',
    candidates: [
      { host: '10.0.1.2', port: 4456, family: 'IPv4' },
      { host: '2001:db8::2', port: 9, family: 'IPv6' },
    ],
  },
  {
    type: MessageType.REGISTERED,
    transactionId: tid,
    status: RegisterStatus.REGISTERED,
    ttlSec: 60,
    observed: { host: '203.0.113.3', port: 49087, family: 'IPv4' },
    cookie,
  },
  { type: MessageType.CONNECT, transactionId: tid, cookie, instance, target: 'bob' },
  {
    type: MessageType.PEER_INFO,
    transactionId: tid,
    session: instance,
    controlling: true,
    startDelayMs: 120,
    peerName: 'bob',
    peerId: '',
    observed: { host: '203.0.113.4', port: 1, family: 'IPv4' },
    candidates: [{ host: '10.0.2.2', port: 5000, family: 'IPv4' }],
  },
  { type: MessageType.PEER_NOT_FOUND, transactionId: tid, target: 'carol' },
  { type: MessageType.UNREGISTER, transactionId: tid, cookie, instance, name: 'alice' },
  { type: MessageType.PROBE, transactionId: tid, session: instance, ack: true, nominate: true },
  { type: MessageType.RELAY_ALLOC, transactionId: tid, cookie, instance, session: instance },
  {
    type: MessageType.RELAY_INFO,
    transactionId: tid,
    status: RelayStatus.ALLOCATED,
    idleTimeoutSec: 30,
    rateBytesPerSec: 4_000_000_000,
    peer: { host: '203.0.113.4', port: 62482, family: 'IPv4' },
  },
  { type: MessageType.MAPPING_QUERY, transactionId: tid, cookie, instance },
  {
    type: MessageType.MAPPING_INFO,
    transactionId: tid,
    observed: { host: '203.0.113.5', port: 40001, family: 'IPv4' },
    otherPort: 3479,
  },
  { type: MessageType.PEER_MAPPING_QUERY, transactionId: tid, cookie, instance, session: instance },
  {
    type: MessageType.PEER_MAPPING,
    transactionId: tid,
    status: PeerMappingStatus.READY,
    self: {
      primary: { host: '203.0.113.5', port: 40001, family: 'IPv4' },
      alternate: { host: '203.0.113.5', port: 40001, family: 'IPv4' },
    },
    peer: { primary: { host: '203.0.113.6', port: 1200, family: 'IPv4' } },
  },
  { type: MessageType.PEER_MAPPING, transactionId: tid, status: PeerMappingStatus.PENDING },
];

describe('rendezvous codec', () => {
  it.each(samples.map((m) => [m.type, m] as const))('round-trips type %i', (_type, message) => {
    const bytes = encodeRendezvousMessage(message);
    expect(isRendezvousMessage(bytes)).toBe(true);
    expect(isStunMessage(bytes)).toBe(false);
    expect(decodeRendezvousMessage(bytes)).toEqual(message);
  });

  it('pads every request to the server to REQUEST_MIN_BYTES, and answers are smaller', () => {
    for (const message of samples) {
      const bytes = encodeRendezvousMessage(message);
      if (
        [
          MessageType.REGISTER,
          MessageType.CONNECT,
          MessageType.UNREGISTER,
          MessageType.RELAY_ALLOC,
          MessageType.MAPPING_QUERY,
          MessageType.PEER_MAPPING_QUERY,
        ].includes(message.type as 1)
      ) {
        expect(bytes.length).toBeGreaterThanOrEqual(REQUEST_MIN_BYTES);
      }
    }
    const challenge = encodeRendezvousMessage({
      ...samples[1]!,
      status: RegisterStatus.CHALLENGE,
    } as RendezvousMessage);
    expect(challenge.length).toBeLessThan(REQUEST_MIN_BYTES);
  });

  it('cannot be confused with STUN or Antt/UDP', () => {
    const stun = encodeStunMessage({ class: 'request', transactionId: newTransactionId() });
    expect(isRendezvousMessage(stun)).toBe(false);
    const antt = Uint8Array.of(0xa7, 0x7e, 1, 1, ...new Array(30).fill(0));
    expect(isRendezvousMessage(antt)).toBe(false);
    const ours = encodeRendezvousMessage(samples[6]!);
    // RFC 7983: STUN's first byte is 0–3; ours is 0x52. Antt/UDP's magic differs in 8 bits.
    expect(ours[0]).toBeGreaterThan(3);
    const bits = (x: number) => x.toString(2).replaceAll('0', '').length;
    expect(bits(ours[0]! ^ 0xa7) + bits(ours[1]! ^ 0x7e)).toBeGreaterThanOrEqual(8);
  });

  it('names another version and refuses it', () => {
    const bytes = encodeRendezvousMessage(samples[2]!);
    bytes[2] = 2;
    expect(() => decodeRendezvousMessage(bytes)).toThrow(/version 2, we speak 1/);
  });

  it('rejects caller mistakes with ANTT_ERR_INVALID_ARGUMENT', () => {
    expect(() =>
      encodeRendezvousMessage({ ...samples[2]!, target: 'x'.repeat(65) } as RendezvousMessage),
    ).toThrow(/at most 64/);
    expect(() =>
      encodeRendezvousMessage({
        type: MessageType.PEER_NOT_FOUND,
        target: 'x',
        transactionId: new Uint8Array(3),
      }),
    ).toThrow(/transaction id must be 8 bytes/);
  });

  it('fuzz: untrusted bytes give a message or a ProtocolError, nothing else', () => {
    const fromEnv = Number(process.env.ANTT_TEST_SEED);
    const seed = Number.isInteger(fromEnv) && process.env.ANTT_TEST_SEED ? fromEnv : Date.now() % 2 ** 31;
    console.log(`fast-check seed ${seed} (replay with ANTT_TEST_SEED=${seed})`);
    const valid = samples.map((m) => encodeRendezvousMessage(m));
    const mutated = fc
      .tuple(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(200), fc.nat(255)), { maxLength: 6 }),
        fc.nat(200),
      )
      .map(([bytes, flips, cut]) => {
        const copy = bytes.slice(0, Math.max(12, bytes.length - (cut % 40)));
        for (const [at, value] of flips) if (at < copy.length && at > 2) copy[at] = value;
        return copy;
      });
    const random = fc.uint8Array({ maxLength: 300 }).map((b) => {
      const copy = Uint8Array.from(b);
      if (copy.length >= 3) copy.set([0x52, 0x56, 1]);
      return copy;
    });
    fc.assert(
      fc.property(fc.oneof(mutated, random), (bytes) => {
        try {
          decodeRendezvousMessage(bytes);
        } catch (error) {
          expect(AnttError.is(error) && error.code === ErrorCode.PROTOCOL, String(error)).toBe(true);
        }
      }),
      { seed, numRuns: 3000 },
    );
  });
});
