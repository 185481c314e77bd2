import { AnttError, ErrorCode, ProtocolError } from '@antt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RFC5769_IPV4_RESPONSE,
  RFC5769_IPV6_RESPONSE,
  RFC5769_REQUEST,
  RFC5769_TRANSACTION_ID,
} from '../../test/fixtures/rfc5769.js';
import {
  decodeStunMessage,
  encodeStunMessage,
  isStunMessage,
  mappedAddressOf,
  newTransactionId,
  StunAttribute,
} from './message.js';

function withFingerprintStripped(bytes: Uint8Array): Uint8Array {
  // Drop the trailing 8-byte FINGERPRINT attribute and fix the header length.
  const out = Uint8Array.from(bytes.subarray(0, bytes.length - 8));
  const length = out.length - 20;
  out[2] = length >> 8;
  out[3] = length & 0xff;
  return out;
}

describe('RFC 5769 test vectors', () => {
  it('§2.1 sample request: class, SOFTWARE, space-padded USERNAME, FINGERPRINT', () => {
    const message = decodeStunMessage(RFC5769_REQUEST);
    expect(message.class).toBe('request');
    expect(message.method).toBe(1);
    expect(message.transactionId).toEqual(RFC5769_TRANSACTION_ID);
    expect(message.software).toBe('STUN test client');
    expect(message.fingerprint).toBe(true);
    expect(message.unknownRequired).toEqual([]);
    const username = message.attributes.find((a) => a.type === StunAttribute.USERNAME);
    expect(Buffer.from(username!.value).toString()).toBe('evtj:h6vY');
  });

  it('§2.2 IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853', () => {
    const message = decodeStunMessage(RFC5769_IPV4_RESPONSE);
    expect(message.class).toBe('success');
    expect(message.software).toBe('test vector');
    expect(message.fingerprint).toBe(true);
    expect(mappedAddressOf(message)).toEqual({ host: '192.0.2.1', port: 32853, family: 'IPv4' });
  });

  it('§2.3 IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const message = decodeStunMessage(RFC5769_IPV6_RESPONSE);
    expect(message.fingerprint).toBe(true);
    expect(message.xorMappedAddress).toEqual({
      host: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
      family: 'IPv6',
    });
  });

  it('the encoder reproduces the vectors’ XOR-MAPPED-ADDRESS bytes', () => {
    for (const [vector, host] of [
      [RFC5769_IPV4_RESPONSE, '192.0.2.1'],
      [RFC5769_IPV6_RESPONSE, '2001:db8:1234:5678:11:2233:4455:6677'],
    ] as const) {
      const encoded = encodeStunMessage({
        class: 'success',
        transactionId: RFC5769_TRANSACTION_ID,
        xorMappedAddress: { host, port: 32853 },
        fingerprint: false,
      });
      const attribute = encoded.subarray(20);
      const start = 20 + 16; // header + the vector's SOFTWARE attribute
      expect(Buffer.from(attribute).toString('hex')).toBe(
        Buffer.from(vector.subarray(start, start + attribute.length)).toString('hex'),
      );
    }
  });

  it('re-encoding a vector gives its bytes, and a FINGERPRINT the vector-checked decoder accepts', () => {
    const decoded = decodeStunMessage(RFC5769_IPV4_RESPONSE);
    const attributes = decoded.attributes.filter((a) => a.type !== StunAttribute.FINGERPRINT);
    const plain = encodeStunMessage({
      class: 'success',
      transactionId: decoded.transactionId,
      attributes,
      fingerprint: false,
    });
    // The vector pads SOFTWARE ("test vector", 11 bytes) with a space, the encoder with a zero.
    const spacePadded = Uint8Array.from(plain);
    spacePadded[20 + 4 + 11] = 0x20;
    expect(spacePadded).toEqual(withFingerprintStripped(RFC5769_IPV4_RESPONSE));
    // The decoder verified the RFC's own FINGERPRINTs above, so it is a trustworthy judge here.
    const signed = encodeStunMessage({ class: 'success', transactionId: decoded.transactionId, attributes });
    expect(decodeStunMessage(signed).fingerprint).toBe(true);
    expect(signed.length).toBe(RFC5769_IPV4_RESPONSE.length);
  });

  it('decoding a Buffer (as dgram delivers) leaves its bytes untouched', () => {
    // Buffer#slice is a view, not a copy: un-XORing an address in place would corrupt the message.
    const received = Buffer.from(RFC5769_IPV6_RESPONSE);
    decodeStunMessage(received);
    expect(decodeStunMessage(received).xorMappedAddress?.host).toBe('2001:db8:1234:5678:11:2233:4455:6677');
    expect(Uint8Array.from(received)).toEqual(RFC5769_IPV6_RESPONSE);
  });

  it('every vector is recognised by isStunMessage', () => {
    for (const vector of [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]) {
      expect(isStunMessage(vector)).toBe(true);
    }
  });

  it('a flipped bit anywhere before FINGERPRINT is caught', () => {
    for (let i = 20; i < RFC5769_IPV4_RESPONSE.length - 8; i++) {
      const copy = Uint8Array.from(RFC5769_IPV4_RESPONSE);
      copy[i]! ^= 0x01;
      expect(() => decodeStunMessage(copy), `byte ${i}`).toThrow(ProtocolError);
    }
    expect(decodeStunMessage(withFingerprintStripped(RFC5769_IPV4_RESPONSE)).fingerprint).toBe(false);
  });
});

describe('encode/decode round trips', () => {
  it('carries every typed attribute', () => {
    const transactionId = newTransactionId();
    const bytes = encodeStunMessage({
      class: 'success',
      transactionId,
      xorMappedAddress: { host: '203.0.113.7', port: 4456 },
      mappedAddress: { host: '2001:db8::7', port: 1 },
      responseOrigin: { host: '198.51.100.1', port: 3478 },
      otherAddress: { host: '198.51.100.2', port: 3479 },
      software: 'antt', // 4 bytes: no padding
      errorCode: { code: 420, reason: 'Unknown Attribute' },
    });
    expect(isStunMessage(bytes)).toBe(true);
    const message = decodeStunMessage(bytes);
    expect(message).toMatchObject({
      class: 'success',
      xorMappedAddress: { host: '203.0.113.7', port: 4456, family: 'IPv4' },
      mappedAddress: { host: '2001:db8::7', port: 1, family: 'IPv6' },
      responseOrigin: { host: '198.51.100.1', port: 3478 },
      otherAddress: { host: '198.51.100.2', port: 3479 },
      software: 'antt',
      errorCode: { code: 420, reason: 'Unknown Attribute' },
      fingerprint: true,
      unknownRequired: [],
    });
    expect(message.transactionId).toEqual(transactionId);
  });

  it('CHANGE-REQUEST flags', () => {
    for (const changeRequest of [
      { changeIp: true, changePort: true },
      { changeIp: false, changePort: true },
      { changeIp: true, changePort: false },
    ]) {
      const bytes = encodeStunMessage({ class: 'request', transactionId: newTransactionId(), changeRequest });
      expect(decodeStunMessage(bytes).changeRequest).toEqual(changeRequest);
    }
  });

  it('reports unknown comprehension-required attributes and ignores unknown optional ones', () => {
    const bytes = encodeStunMessage({
      class: 'success',
      transactionId: newTransactionId(),
      attributes: [
        { type: 0x7777, value: Uint8Array.of(1, 2, 3) },
        { type: 0xc001, value: Uint8Array.of(9) },
      ],
    });
    const message = decodeStunMessage(bytes);
    expect(message.unknownRequired).toEqual([0x7777]);
    expect(message.attributes.map((a) => a.value.length)).toEqual([3, 1, 4]);
  });

  it('property: random addresses, classes and SOFTWARE survive a round trip (seeded)', () => {
    const ipv4 = fc.ipV4();
    const ipv6 = fc
      .tuple(...Array.from({ length: 8 }, () => fc.integer({ min: 0, max: 0xffff })))
      .map((g) => g.map((x) => x.toString(16)).join(':'));
    fc.assert(
      fc.property(
        fc.oneof(ipv4, ipv6),
        fc.integer({ min: 0, max: 65535 }),
        fc.constantFrom('request', 'indication', 'success', 'error' as const),
        fc.string({ maxLength: 40 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        (host, port, cls, software, transactionId) => {
          const bytes = encodeStunMessage({
            class: cls,
            transactionId,
            xorMappedAddress: { host, port },
            software,
          });
          const message = decodeStunMessage(bytes);
          expect(message.class).toBe(cls);
          expect(message.software).toBe(software);
          expect(message.xorMappedAddress?.port).toBe(port);
          // Compare canonical forms: the decoder prints RFC 5952 text.
          expect(
            encodeStunMessage({
              class: cls,
              transactionId,
              xorMappedAddress: message.xorMappedAddress!,
              software,
            }),
          ).toEqual(bytes);
        },
      ),
      { seed: seedFromEnv(), numRuns: 500 },
    );
  });
});

describe('isStunMessage', () => {
  it('rejects other protocols cheaply', () => {
    const stun = encodeStunMessage({ class: 'request', transactionId: newTransactionId() });
    expect(isStunMessage(stun)).toBe(true);
    expect(isStunMessage(stun.subarray(0, 19))).toBe(false);
    const dtls = Uint8Array.from(stun);
    dtls[0] = 0x16; // a DTLS record starts with 20-63 (RFC 7983)
    expect(isStunMessage(dtls)).toBe(false);
    const cookie = Uint8Array.from(stun);
    cookie[7] = 0;
    expect(isStunMessage(cookie)).toBe(false);
    const longer = new Uint8Array(stun.length + 4);
    longer.set(stun);
    expect(isStunMessage(longer)).toBe(false);
    expect(isStunMessage(new Uint8Array(0))).toBe(false);
  });
});

describe('decoder on untrusted bytes', () => {
  it('names what was wrong', () => {
    expect(() => decodeStunMessage(new Uint8Array(5))).toThrow(/shorter than the 20-byte header/);
    const bytes = Uint8Array.from(RFC5769_IPV4_RESPONSE);
    bytes[4] = 0;
    expect(() => decodeStunMessage(bytes)).toThrow(/magic cookie/);
    const truncated = Uint8Array.from(RFC5769_IPV4_RESPONSE.subarray(0, 40));
    expect(() => decodeStunMessage(truncated)).toThrow(
      /header says 60 bytes of attributes, datagram carries 20/,
    );
    try {
      decodeStunMessage(truncated);
    } catch (error) {
      expect(AnttError.is(error) && error.code).toBe(ErrorCode.PROTOCOL);
    }
  });

  it('fuzz: random and mutated inputs only ever throw ProtocolError (seeded)', () => {
    const seeds = [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE].map(
      withFingerprintStripped,
    );
    const mutated = fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat({ max: 8 }),
      )
      .map(([base, edits, cut]) => {
        const copy = Uint8Array.from(base.subarray(0, Math.max(0, base.length - cut * 4)));
        for (const [at, value] of edits) if (copy.length > 0) copy[at % copy.length] = value;
        return copy;
      });
    // Random bodies behind a valid header, so the attribute walk is what gets exercised.
    const framed = fc.uint8Array({ maxLength: 120 }).map((body) => {
      const length = body.length & ~3;
      const out = new Uint8Array(20 + length);
      out.set([0x01, 0x01, length >> 8, length & 0xff, 0x21, 0x12, 0xa4, 0x42]);
      out.set(body.subarray(0, length), 20);
      return out;
    });
    let decoded = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, framed, fc.uint8Array({ maxLength: 100 })), (bytes) => {
        try {
          decodeStunMessage(bytes);
          decoded++;
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { seed: seedFromEnv(), numRuns: 20_000 },
    );
    expect(decoded).toBeGreaterThan(0);
  });
});

function seedFromEnv(): number {
  const fromEnv = Number(process.env.ANTT_TEST_SEED);
  const seed = Number.isInteger(fromEnv) && process.env.ANTT_TEST_SEED ? fromEnv : Date.now() % 2 ** 31;
  console.log(`fast-check seed ${seed} (replay with ANTT_TEST_SEED=${seed})`);
  return seed;
}
