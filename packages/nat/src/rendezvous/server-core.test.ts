import type { Address } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { decodeStunMessage, encodeStunMessage, newTransactionId } from '../stun/message.js';
import {
  decodeRendezvousMessage,
  encodeRendezvousMessage,
  type MappingInfoMessage,
  MessageType,
  type PeerInfoMessage,
  type PeerMappingMessage,
  PeerMappingStatus,
  type RegisteredMessage,
  RegisterStatus,
  type RelayInfoMessage,
  RelayStatus,
} from './protocol.js';
import { RendezvousServerCore, type RendezvousServerOptions } from './server-core.js';

const A: Address = { host: '203.0.113.3', port: 40000 };
const B: Address = { host: '203.0.113.4', port: 50000 };
const zeros = (n: number) => new Uint8Array(n);

/** A scripted client of the sans-IO core: registers with the challenge round trip. */
function peer(core: RendezvousServerCore, address: Address, instanceByte: number) {
  const instance = new Uint8Array(8).fill(instanceByte);
  let cookie: Uint8Array = zeros(16);
  return {
    instance,
    send(bytes: Uint8Array, now: number) {
      return core.handleDatagram(bytes, address, now);
    },
    register(name: string, now: number, rttMs = 0): RegisteredMessage {
      for (let i = 0; i < 2; i++) {
        const out = core.handleDatagram(
          encodeRendezvousMessage({
            type: MessageType.REGISTER,
            transactionId: zeros(8),
            cookie,
            instance,
            name,
            peerId: `peer-${instanceByte}`,
            candidates: [{ host: `10.0.${instanceByte}.2`, port: 4000 }],
          }),
          address,
          now + i * rttMs,
        );
        expect(out).toHaveLength(1);
        const answer = decodeRendezvousMessage(out[0]!.bytes) as RegisteredMessage;
        cookie = answer.cookie;
        if (answer.status !== RegisterStatus.CHALLENGE) return answer;
      }
      throw new Error('still challenged');
    },
    relayAlloc(session: Uint8Array, now: number) {
      return core.handleDatagram(
        encodeRendezvousMessage({
          type: MessageType.RELAY_ALLOC,
          transactionId: zeros(8),
          cookie,
          instance,
          session,
        }),
        address,
        now,
      );
    },
    mappingQuery(now: number, via: 'primary' | 'alternate', from: Address = address) {
      return core.handleDatagram(
        encodeRendezvousMessage({
          type: MessageType.MAPPING_QUERY,
          transactionId: zeros(8),
          cookie,
          instance,
        }),
        from,
        now,
        via,
      );
    },
    peerMapping(session: Uint8Array, now: number): PeerMappingMessage {
      const out = core.handleDatagram(
        encodeRendezvousMessage({
          type: MessageType.PEER_MAPPING_QUERY,
          transactionId: zeros(8),
          cookie,
          instance,
          session,
        }),
        address,
        now,
      );
      expect(out).toHaveLength(1);
      return decodeRendezvousMessage(out[0]!.bytes) as PeerMappingMessage;
    },
    connect(target: string, now: number) {
      return core.handleDatagram(
        encodeRendezvousMessage({
          type: MessageType.CONNECT,
          transactionId: zeros(8),
          cookie,
          instance,
          target,
        }),
        address,
        now,
      );
    },
  };
}

function make(options: RendezvousServerOptions = {}) {
  return new RendezvousServerCore({ cookieSecret: new Uint8Array(32).fill(1), ...options });
}

describe('RendezvousServerCore', () => {
  it('registers after a cookie challenge, reporting the observed address', () => {
    const core = make();
    const a = peer(core, A, 1);
    const registered = a.register('alice', 0);
    expect(registered).toMatchObject({ status: RegisterStatus.REGISTERED, ttlSec: 60, observed: A });
    expect(core.stats().registrations).toBe(1);
  });

  it('a REGISTER with a cookie for another address is only challenged again', () => {
    const core = make();
    const a = peer(core, A, 1);
    a.register('alice', 0);
    const stolen = peer(core, B, 2);
    const out = stolen.send(
      encodeRendezvousMessage({
        type: MessageType.REGISTER,
        transactionId: zeros(8),
        cookie: a.register('alice', 10).cookie, // valid for A, replayed from B
        instance: stolen.instance,
        name: 'mallory',
        peerId: '',
        candidates: [],
      }),
      20,
    );
    expect((decodeRendezvousMessage(out[0]!.bytes) as RegisteredMessage).status).toBe(
      RegisterStatus.CHALLENGE,
    );
    expect(core.stats().registrations).toBe(1);
  });

  it('pairs two peers: both get PEER-INFO, one controlling, start times aligned by RTT', () => {
    const core = make();
    const a = peer(core, A, 1);
    const b = peer(core, B, 2);
    a.register('meet', 0, 40);
    b.register('meet', 0, 100);
    const out = a.connect('meet', 200);
    expect(out.map((d) => d.to)).toEqual([A, B]);
    const [toA, toB] = out.map((d) => decodeRendezvousMessage(d.bytes) as PeerInfoMessage);
    expect(toA).toMatchObject({ controlling: true, peerName: 'meet', peerId: 'peer-2', observed: B });
    expect(toA!.candidates).toEqual([{ host: '10.0.2.2', port: 4000, family: 'IPv4' }]);
    expect(toB).toMatchObject({ controlling: false, peerId: 'peer-1', observed: A });
    expect(toA!.session).toEqual(toB!.session);
    // T = 2 × max RTT = 200 ms; each is told T minus its own one-way delay.
    expect(toA!.startDelayMs).toBe(180);
    expect(toB!.startDelayMs).toBe(150);
    // The other side's CONNECT joins the same session, with the same roles.
    const again = b.connect('meet', 250).map((d) => decodeRendezvousMessage(d.bytes) as PeerInfoMessage);
    expect(again[0]).toMatchObject({ controlling: false, session: toA!.session });
    expect(core.stats().peersPaired).toBe(1);
  });

  it('answers PEER-NOT-FOUND for a name nobody holds, and a third instance under a name is refused', () => {
    const core = make();
    const a = peer(core, A, 1);
    a.register('meet', 0);
    expect(decodeRendezvousMessage(a.connect('nobody', 1)[0]!.bytes)).toMatchObject({
      type: MessageType.PEER_NOT_FOUND,
      target: 'nobody',
    });
    // Alone under a meeting name: not found either (it does not meet itself).
    expect(decodeRendezvousMessage(a.connect('meet', 2)[0]!.bytes).type).toBe(MessageType.PEER_NOT_FOUND);
    peer(core, B, 2).register('meet', 3);
    expect(peer(core, { host: '203.0.113.5', port: 1 }, 3).register('meet', 4).status).toBe(
      RegisterStatus.NAME_TAKEN,
    );
  });

  it('ignores CONNECT from an address that is not registered (no answer at all)', () => {
    const core = make();
    const stranger = peer(core, A, 1);
    expect(stranger.connect('meet', 0)).toEqual([]);
    expect(core.stats().droppedBadCookie).toBe(1);
  });

  it('registrations expire after the TTL unless refreshed', () => {
    const core = make({ registrationTtlSec: 10 });
    const a = peer(core, A, 1);
    a.register('alice', 0);
    expect(core.nextExpiryIn(0)).toBe(10_000);
    a.register('alice', 8_000); // refresh
    core.expire(15_000);
    expect(core.stats().registrations).toBe(1);
    core.expire(18_001);
    expect(core.stats()).toMatchObject({ registrations: 0, expired: 1 });
  });

  it('holds at most maxRegistrations', () => {
    const core = make({ maxRegistrations: 2, ratePerSec: 1000, rateBurst: 1000 });
    for (let i = 0; i < 2; i++)
      peer(core, { host: '198.51.100.1', port: 1000 + i }, i + 1).register(`n${i}`, 0);
    expect(peer(core, { host: '198.51.100.1', port: 2000 }, 9).register('n9', 0).status).toBe(
      RegisterStatus.FULL,
    );
    expect(core.stats().registrations).toBe(2);
  });

  it('limits each source IP to its rate', () => {
    const core = make({ ratePerSec: 10, rateBurst: 5 });
    const bytes = encodeStunMessage({
      class: 'request',
      transactionId: newTransactionId(),
      software: 'antt',
    });
    let answered = 0;
    for (let i = 0; i < 20; i++) answered += core.handleDatagram(bytes, A, 0).length;
    expect(answered).toBe(5);
    expect(core.stats().droppedRateLimited).toBe(15);
    answered = core.handleDatagram(bytes, B, 0).length; // another source is not affected
    expect(answered).toBe(1);
    expect(core.handleDatagram(bytes, A, 200).length).toBe(1); // refilled
  });

  describe('never amplifies toward an unverified address', () => {
    it('STUN Binding: answered within the request size, without FINGERPRINT if need be', () => {
      const core = make();
      // 36 bytes with SOFTWARE and FINGERPRINT; the answer without FINGERPRINT is 32.
      const request = encodeStunMessage({
        class: 'request',
        transactionId: newTransactionId(),
        software: 'antt',
      });
      const [answer] = core.handleDatagram(request, A, 0);
      expect(answer!.bytes.length).toBeLessThanOrEqual(request.length);
      const decoded = decodeStunMessage(answer!.bytes);
      expect(decoded.xorMappedAddress).toMatchObject(A);
      expect(decoded.fingerprint).toBe(false);
      // A 20-byte request (or 28 with FINGERPRINT) cannot be answered within its size.
      const bare = encodeStunMessage({
        class: 'request',
        transactionId: newTransactionId(),
        fingerprint: false,
      });
      expect(core.handleDatagram(bare, A, 0)).toEqual([]);
      const small = encodeStunMessage({ class: 'request', transactionId: newTransactionId() });
      expect(core.handleDatagram(small, A, 0)).toEqual([]);
      expect(core.stats().droppedAmplification).toBe(2);
    });

    it('STUN Binding from a registered address gets the full answer', () => {
      const core = make();
      peer(core, A, 1).register('alice', 0);
      const bare = encodeStunMessage({
        class: 'request',
        transactionId: newTransactionId(),
        fingerprint: false,
      });
      const [answer] = core.handleDatagram(bare, A, 1);
      expect(decodeStunMessage(answer!.bytes).fingerprint).toBe(true);
    });

    it('every answer to random datagrams is at most the size of what came in', () => {
      const core = make({ ratePerSec: 1e6, rateBurst: 1e6 });
      for (let i = 0; i < 2000; i++) {
        const length = 12 + (i % 200);
        const bytes = new Uint8Array(length).map(() => Math.floor(Math.random() * 256));
        if (i % 2 === 0) bytes.set([0x52, 0x56, 1, 1 + (i % 7)]);
        for (const out of core.handleDatagram(bytes, { host: '198.51.100.7', port: i + 1 }, i)) {
          expect(out.bytes.length).toBeLessThanOrEqual(length);
        }
      }
    });
  });

  describe('mapping extension', () => {
    it('answers MAPPING-QUERY on both ports with what each saw, naming the other port', () => {
      const core = make();
      core.setPorts(3478, 3479);
      const a = peer(core, A, 1);
      a.register('alice', 0);
      const main = a.mappingQuery(10, 'primary');
      expect(main).toHaveLength(1);
      expect(main[0]!.via).toBeUndefined();
      expect(decodeRendezvousMessage(main[0]!.bytes)).toMatchObject({ observed: A, otherPort: 3479 });
      // An endpoint-dependent NAT shows the alternate port another outside port.
      const other = { host: A.host, port: 40123 };
      const alt = a.mappingQuery(20, 'alternate', other);
      expect(alt).toHaveLength(1);
      expect(alt[0]).toMatchObject({ to: other, via: 'alternate' });
      const info = decodeRendezvousMessage(alt[0]!.bytes) as MappingInfoMessage;
      expect(info).toMatchObject({ observed: { host: A.host, port: 40123 }, otherPort: 3478 });
      // Never more bytes than the query to the unverified alternate-port address.
      expect(alt[0]!.bytes.length).toBeLessThan(128);
    });

    it('ignores MAPPING-QUERY without a registration or with a cookie of another address', () => {
      const core = make();
      core.setPorts(3478, 3479);
      const stranger = peer(core, B, 9);
      expect(stranger.mappingQuery(0, 'alternate')).toEqual([]);
      expect(stranger.mappingQuery(0, 'primary')).toEqual([]);
      const a = peer(core, A, 1);
      a.register('alice', 0);
      // Registered elsewhere under the same instance bytes, but the cookie is A's: from B on the main
      // port it is refused; the alternate port accepts A's cookie from anywhere (that is its job).
      expect(peer(core, B, 1).mappingQuery(5, 'primary')).toEqual([]);
      // Other message types are not served on the alternate port.
      const connect = encodeRendezvousMessage({
        type: MessageType.CONNECT,
        transactionId: zeros(8),
        cookie: zeros(16),
        instance: a.instance,
        target: 'x',
      });
      expect(core.handleDatagram(connect, A, 6, 'alternate')).toEqual([]);
      expect(core.stats().droppedUnexpected).toBe(1);
      expect(core.stats().droppedBadCookie).toBeGreaterThan(0);
    });

    it('PEER-MAPPING: pending until both alternates are in, then the same frozen answer to both', () => {
      const core = make();
      core.setPorts(3478, 3479);
      const a = peer(core, A, 1);
      const b = peer(core, B, 2);
      a.register('meet', 0);
      b.register('meet', 0);
      const session = (decodeRendezvousMessage(a.connect('meet', 10)[0]!.bytes) as PeerInfoMessage).session;
      a.mappingQuery(11, 'alternate', A);
      expect(a.peerMapping(session, 20)).toEqual({
        type: MessageType.PEER_MAPPING,
        transactionId: zeros(8),
        status: PeerMappingStatus.PENDING,
      });
      const bAlt = { host: B.host, port: 61000 };
      b.mappingQuery(30, 'alternate', bAlt);
      const toA = a.peerMapping(session, 40);
      const toB = b.peerMapping(session, 41);
      expect(toA).toMatchObject({
        status: PeerMappingStatus.READY,
        self: { primary: A, alternate: A },
        peer: { primary: B, alternate: bAlt },
      });
      expect(toB).toMatchObject({ self: toA.peer, peer: toA.self });
      // Frozen: a later alternate observation does not change the session's answer.
      b.mappingQuery(50, 'alternate', { host: B.host, port: 62000 });
      expect(a.peerMapping(session, 60).peer).toEqual(toA.peer);
    });

    it('PEER-MAPPING: frozen with what arrived after MAPPING_FREEZE_MS (an older peer never asks)', () => {
      const core = make();
      const a = peer(core, A, 1);
      const b = peer(core, B, 2);
      a.register('meet', 0);
      b.register('meet', 0);
      const session = (decodeRendezvousMessage(a.connect('meet', 10)[0]!.bytes) as PeerInfoMessage).session;
      a.mappingQuery(11, 'alternate', A);
      expect(a.peerMapping(session, 500).status).toBe(PeerMappingStatus.PENDING);
      const late = a.peerMapping(session, 1_011);
      expect(late.status).toBe(PeerMappingStatus.READY);
      expect(late.peer).toEqual({ primary: { ...B, family: 'IPv4' } });
      expect(a.peerMapping(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 1_020).status).toBe(
        PeerMappingStatus.NO_SESSION,
      );
    });
  });

  describe('relay', () => {
    const C: Address = { host: '203.0.113.5', port: 60000 };
    /** An Antt/UDP-looking datagram (first byte 0xA7) of `size` bytes. */
    const antt = (size: number, fill = 1) => {
      const bytes = new Uint8Array(size).fill(fill);
      bytes[0] = 0xa7;
      bytes[1] = 0x7e;
      return bytes;
    };
    const info = (out: { bytes: Uint8Array }[]) => {
      expect(out).toHaveLength(1);
      return decodeRendezvousMessage(out[0]!.bytes) as RelayInfoMessage;
    };
    /** Two registered peers paired under a meeting name; returns them and the session id. */
    function pair(
      core: RendezvousServerCore,
      name = 'meet',
      addresses: [Address, Address] = [A, B],
      base = 1,
    ) {
      const a = peer(core, addresses[0], base);
      const b = peer(core, addresses[1], base + 1);
      a.register(name, 0);
      b.register(name, 0);
      const [toA] = a.connect(name, 1);
      const session = (decodeRendezvousMessage(toA!.bytes) as PeerInfoMessage).session;
      return { a, b, session };
    }

    it('allocates a relay for a paired session and forwards Antt datagrams both ways, byte for byte', () => {
      const core = make();
      const { a, b, session } = pair(core);
      const grant = info(a.relayAlloc(session, 10));
      expect(grant).toMatchObject({
        type: MessageType.RELAY_INFO,
        status: RelayStatus.ALLOCATED,
        peer: B,
        idleTimeoutSec: 30,
        rateBytesPerSec: 1_000_000,
      });
      expect(info(b.relayAlloc(session, 11))).toMatchObject({ status: RelayStatus.ALLOCATED, peer: A });
      expect(core.stats()).toMatchObject({ relays: 1, relaysAllocated: 1 });
      const datagram = antt(1200, 5);
      expect(core.handleDatagram(datagram, A, 12)).toEqual([{ bytes: datagram, to: B }]);
      const back = antt(40, 6);
      expect(core.handleDatagram(back, B, 13)).toEqual([{ bytes: back, to: A }]);
      expect(core.stats()).toMatchObject({ relayedDatagrams: 2, relayedBytes: 1240 });
    });

    it('keeps forwarding after the peers unregister (connect() is done) until the relay idles out', () => {
      const core = make({ relayIdleTimeoutSec: 5 });
      const { a, session } = pair(core);
      info(a.relayAlloc(session, 10));
      core.expire(10_000_000); // registrations and sessions are gone...
      expect(core.stats().registrations).toBe(0);
      expect(core.stats().relays).toBe(0); // ...and so is the idle relay
      const again = make({ relayIdleTimeoutSec: 5, registrationTtlSec: 1 });
      const p = pair(again);
      info(p.a.relayAlloc(p.session, 10));
      for (let t = 1000; t <= 20_000; t += 1000) {
        again.expire(t);
        expect(again.handleDatagram(antt(100), A, t)).toHaveLength(1); // alive while used
      }
      expect(again.stats().registrations).toBe(0);
      again.expire(25_001);
      expect(again.stats()).toMatchObject({ relays: 0, relaysExpired: 1 });
      expect(again.handleDatagram(antt(100), A, 25_002)).toEqual([]);
    });

    it('never forwards for an unknown source, and never answers one', () => {
      const core = make();
      const { a, session } = pair(core);
      info(a.relayAlloc(session, 10));
      // C is registered nowhere; A's IP with another port is another socket (another NAT mapping).
      for (const stranger of [C, { host: A.host, port: A.port + 1 }]) {
        expect(core.handleDatagram(antt(1200), stranger, 20)).toEqual([]);
      }
      // Before any relay, A's Antt datagrams go nowhere either.
      const other = make();
      pair(other);
      expect(other.handleDatagram(antt(1200), A, 20)).toEqual([]);
      expect(core.stats().relayDroppedUnknownSource).toBe(2);
      expect(other.stats().relayDroppedUnknownSource).toBe(1);
    });

    it('refuses RELAY-ALLOC for a session the requester is not in, and ignores unregistered requesters', () => {
      const core = make({ ratePerSec: 1000, rateBurst: 1000 });
      const { session } = pair(core);
      const c = peer(core, C, 7);
      c.register('someone-else', 0);
      expect(info(c.relayAlloc(session, 10))).toMatchObject({
        status: RelayStatus.NO_SESSION,
        rateBytesPerSec: 0,
      });
      expect(info(c.relayAlloc(new Uint8Array(8).fill(3), 10)).status).toBe(RelayStatus.NO_SESSION);
      const stranger = peer(core, { host: '198.51.100.9', port: 9 }, 8);
      expect(stranger.relayAlloc(session, 10)).toEqual([]);
      expect(core.stats()).toMatchObject({ relays: 0, relaysRefused: 2 });
      expect(core.handleDatagram(antt(1200), C, 11)).toEqual([]);
    });

    it('holds at most maxRelays (FULL), and none with maxRelays 0 (REFUSED)', () => {
      const core = make({ maxRelays: 1, ratePerSec: 1000, rateBurst: 1000 });
      const first = pair(core, 'm1');
      expect(info(first.a.relayAlloc(first.session, 10)).status).toBe(RelayStatus.ALLOCATED);
      const second = pair(core, 'm2', [C, { host: '203.0.113.6', port: 1 }], 5);
      expect(info(second.a.relayAlloc(second.session, 10)).status).toBe(RelayStatus.FULL);
      // Asking again for the same pair is not a new relay.
      expect(info(first.b.relayAlloc(first.session, 11)).status).toBe(RelayStatus.ALLOCATED);
      expect(core.stats()).toMatchObject({ relays: 1, relaysAllocated: 1, relaysRefused: 1 });
      const off = make({ maxRelays: 0 });
      const p = pair(off);
      expect(info(p.a.relayAlloc(p.session, 10)).status).toBe(RelayStatus.REFUSED);
    });

    it('caps each relay at its rate with a token bucket, dropping the excess', () => {
      const core = make({ relayRateBytesPerSec: 100_000, relayBurstBytes: 10_000 });
      const { a, session } = pair(core);
      info(a.relayAlloc(session, 0));
      let forwarded = 0;
      // Offer 1 MB/s for 2 s in 1000-byte datagrams, every ms, alternating directions.
      for (let t = 0; t < 2000; t++) {
        forwarded += core.handleDatagram(antt(1000), t % 2 === 0 ? A : B, t).length;
      }
      // 10 000 bytes of burst + 100 000 bytes/s × 2 s, to within one datagram.
      expect(forwarded * 1000).toBeGreaterThanOrEqual(200_000);
      expect(forwarded * 1000).toBeLessThanOrEqual(211_000);
      expect(core.stats().relayDroppedRate).toBe(2000 - forwarded);
      expect(core.stats().relayedBytes).toBe(forwarded * 1000);
    });

    it('relayed traffic is not counted against the per-IP request rate, and rendezvous traffic still works', () => {
      const core = make({ ratePerSec: 1, rateBurst: 5, relayRateBytesPerSec: 1e9 });
      const { a, session } = pair(core);
      info(a.relayAlloc(session, 10));
      for (let i = 0; i < 100; i++) expect(core.handleDatagram(antt(1200), A, 20)).toHaveLength(1);
      expect(info(a.relayAlloc(session, 21)).status).toBe(RelayStatus.ALLOCATED);
      expect(core.stats().droppedRateLimited).toBe(0);
    });
  });
});
