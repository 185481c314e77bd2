/**
 * Connection migration without sockets: two connection cores (secured with real Noise keys, or insecure)
 * on a simulated network of addresses and routes, driven by a fake clock. A NAT rebinding is a route
 * change (the peer's datagrams arrive from a new address, and the old address stops reaching it); a
 * relay and a direct path are two routes between the same cores. An attacker injects datagrams from
 * addresses of its choosing.
 */
import { Identity, SecureContext } from '@antt/secure';
import { beforeAll, describe, expect, it } from 'vitest';
import { NewReno } from './congestion/new-reno.js';
import { ConnectionCore, type CoreHost, ReceiveOutcome } from './connection-core.js';
import { type PathAddress, PathValidator, samePath, ValidationKind } from './path-validation.js';
import { ChecksumProtection } from './protection.js';

const DATAGRAM_BYTES = 1200;
const ONE_WAY_MS = 10;
/** Bounds every simulated run (simulated milliseconds). */
const RUN_LIMIT_MS = 30_000;

interface Side {
  name: string;
  core: ConnectionCore;
  remote: PathAddress;
  messages: Uint8Array[];
  opened: boolean;
  ended: boolean;
  /** RTT sample state at each validated move: false means the estimator was reset (RFC 9000 §9.4). */
  rttKeptAtMove: boolean[];
  outcomes: { target: PathAddress; validated: boolean; kind: number }[];
}

/** Where a datagram sent by `from` to `destination` arrives, and which source address it carries. */
type Route = (from: Side, destination: PathAddress) => { to: Side; source: PathAddress } | undefined;

let contexts: [SecureContext, SecureContext];

beforeAll(async () => {
  contexts = [
    await SecureContext.create({ identity: Identity.generate(), acceptAnyPeer: true }),
    await SecureContext.create({ identity: Identity.generate(), acceptAnyPeer: true }),
  ];
});

function side(name: string, id: number, remote: PathAddress, secured: boolean): Side {
  const s = {
    name,
    remote,
    messages: [],
    opened: false,
    ended: false,
    rttKeptAtMove: [],
    outcomes: [],
  } as unknown as Side;
  const host: CoreHost = {
    onOpen: () => {
      s.opened = true;
    },
    onMessage: (m) => s.messages.push(m),
    onEnd: () => {
      s.ended = true;
    },
    onAcked: () => {},
    receiveWindowBytes: () => 16 * 1024 * 1024,
    describePeer: () => `peer of ${name}`,
    remotePath: () => s.remote,
    onPathValidated: (outcome) => {
      s.outcomes.push(outcome);
      if (!outcome.validated) return;
      s.rttKeptAtMove.push(s.core.loss.rtt.hasSample);
      s.remote = outcome.target;
    },
  };
  s.core = new ConnectionCore(
    {
      localId: { hi: id, lo: id * 7 + 1 },
      initiator: true,
      datagramBytes: DATAGRAM_BYTES,
      maxDatagramBytes: DATAGRAM_BYTES,
      protection: new ChecksumProtection(),
      secured,
      congestion: (bytes) => new NewReno(bytes),
      idleTimeoutMs: 10_000,
      keepAliveIntervalMs: 1_000,
      maxMessageBytes: 1 << 24,
      reassemblyBytes: 1 << 22,
    },
    host,
    0,
  );
  if (secured) s.core.setSecureContext(contexts[id - 1]!, 0);
  return s;
}

class Network {
  now = 0;
  readonly inFlight: { at: number; to: Side; source: PathAddress; bytes: Uint8Array }[] = [];
  /** Datagrams sent to an address no route leads to (a NAT mapping that is gone). */
  undeliverable = 0;
  /** Bytes sent per destination address, for amplification checks. */
  readonly sentTo = new Map<string, number>();
  /** Hold back what `a` sends instead of delivering it (for the attacker to take). */
  intercept: ((from: Side, bytes: Uint8Array) => boolean) | undefined;

  constructor(
    readonly a: Side,
    readonly b: Side,
    public route: Route,
  ) {}

  #pump(from: Side): void {
    const buffer = new Uint8Array(DATAGRAM_BYTES);
    for (let n = 0; n < 1000; n++) {
      const length = from.core.produce(buffer, this.now);
      if (length === 0) return;
      const destination = from.core.destination ?? from.remote;
      const key = `${destination.host}:${destination.port}`;
      this.sentTo.set(key, (this.sentTo.get(key) ?? 0) + length);
      const bytes = buffer.slice(0, length);
      if (this.intercept?.(from, bytes)) continue;
      const hop = this.route(from, destination);
      if (!hop) {
        this.undeliverable++;
        continue;
      }
      this.inFlight.push({ at: this.now + ONE_WAY_MS, to: hop.to, source: hop.source, bytes });
    }
  }

  /** Delivers one datagram as the endpoint would: `from` only when the source is not the current remote. */
  deliver(to: Side, source: PathAddress, bytes: Uint8Array): ReceiveOutcome {
    return to.core.receive(bytes, this.now, samePath(source, to.remote) ? undefined : source);
  }

  run(done: () => boolean, limitMs = RUN_LIMIT_MS): void {
    const start = this.now;
    while (!done() && this.now - start < limitMs) {
      for (const s of [this.a, this.b]) s.core.handleTimeouts(this.now);
      this.#pump(this.a);
      this.#pump(this.b);
      this.inFlight.sort((x, y) => x.at - y.at);
      const nextArrival = this.inFlight[0]?.at ?? Number.POSITIVE_INFINITY;
      const nextTimer = Math.min(this.a.core.nextDeadline(), this.b.core.nextDeadline());
      this.now = Math.max(this.now + 0.01, Math.min(nextArrival, nextTimer));
      while (this.inFlight.length > 0 && this.inFlight[0]!.at <= this.now) {
        const item = this.inFlight.shift()!;
        this.deliver(item.to, item.source, item.bytes);
      }
    }
  }
}

const A_PUBLIC = { host: '198.51.100.1', port: 40_001 };
const A_REBOUND = { host: '198.51.100.1', port: 51_234 };
const B_PUBLIC = { host: '203.0.113.2', port: 40_002 };
const ATTACKER = { host: '192.0.2.66', port: 6_666 };

/** A and B talk directly; `aSource` is the address A's NAT gives it now (where B's replies must go). */
function directPair(secured: boolean) {
  const a = side('a', 1, B_PUBLIC, secured);
  const b = side('b', 2, A_PUBLIC, secured);
  const nat = { aSource: A_PUBLIC };
  const net = new Network(a, b, (from, destination) => {
    if (from === a) return samePath(destination, B_PUBLIC) ? { to: b, source: nat.aSource } : undefined;
    return samePath(destination, nat.aSource) ? { to: a, source: B_PUBLIC } : undefined;
  });
  a.core.startHandshake(0);
  b.core.startHandshake(0);
  net.run(() => a.opened && b.opened);
  expect(a.opened && b.opened).toBe(true);
  return { a, b, net, nat };
}

function writeMessages(s: Side, count: number, bytes: number): void {
  for (let i = 0; i < count; i++) s.core.write(new Uint8Array(bytes).fill(i));
}

describe('path migration (sans-IO)', () => {
  it('follows a NAT rebinding mid-transfer after validating the new address, losing nothing', () => {
    const { a, b, net, nat } = directPair(true);
    expect(a.core.peerMigrates && b.core.peerMigrates).toBe(true);
    writeMessages(a, 64, 32 * 1024);
    net.run(() => b.messages.length >= 16);
    // A's NAT forgets the mapping: A now appears from a new port, and its old port reaches nobody.
    nat.aSource = A_REBOUND;
    net.run(() => b.messages.length === 64);
    expect(b.messages.map((m) => m[0])).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(b.remote).toEqual(A_REBOUND);
    expect(b.core.pathMigrations).toBe(1);
    expect(b.outcomes).toEqual([{ target: A_REBOUND, kind: ValidationKind.REACTIVE, validated: true }]);
    // Only the port changed: RFC 9000 §9.4 lets the path keep its RTT estimate and congestion state.
    expect(b.rttKeptAtMove).toEqual([true]);
    expect(net.undeliverable).toBeGreaterThan(0); // B's ACKs to the old port, until validation
    expect(a.core.pathMigrations).toBe(0); // A never saw an address change
    expect(a.ended || b.ended).toBe(false);
  });

  it('starts the path over (RTT, congestion, MTU) when the peer moves to another host', () => {
    const { a, b, net, nat } = directPair(true);
    writeMessages(a, 16, 32 * 1024);
    net.run(() => b.messages.length >= 4);
    const moved = { host: '198.51.100.77', port: 40_001 };
    nat.aSource = moved;
    net.run(() => b.messages.length === 16);
    expect(b.remote).toEqual(moved);
    expect(b.rttKeptAtMove).toEqual([false]);
  });

  it('is not moved by replayed, forged or unanswered datagrams from other addresses', () => {
    const { a, b, net } = directPair(true);
    const held: Uint8Array[] = [];
    const delivered: Uint8Array[] = [];
    net.intercept = (from, bytes) => {
      if (from !== a) return false;
      if (held.length < 3) {
        held.push(bytes); // never delivered from A's real address: only the attacker will send them
        return true;
      }
      delivered.push(bytes);
      return false;
    };
    writeMessages(a, 8, 16 * 1024);
    net.run(() => held.length === 3 && delivered.length > 4);
    net.intercept = undefined;
    const authBefore = b.core.datagramsRejectedAuth;
    // Replays of datagrams B already has, from the attacker's address: rejected before any effect.
    for (const bytes of delivered.slice(0, 4)) {
      expect(net.deliver(b, ATTACKER, bytes.slice())).toBe(ReceiveOutcome.REJECTED);
    }
    expect(b.core.datagramsRejectedReplay).toBe(4);
    // Forgeries (a flipped byte) from the attacker's address: fail authentication.
    const forged = held[0]!.slice();
    forged[forged.length - 20]! ^= 1;
    expect(net.deliver(b, ATTACKER, forged)).toBe(ReceiveOutcome.REJECTED);
    expect(b.core.datagramsRejectedAuth).toBe(authBefore + 1);
    expect(b.core.path.target).toBeUndefined();
    // Older genuine datagrams B never got, from the attacker's address: taken (they are authentic) but
    // not the newest, so they cannot move the connection (RFC 9000 §9.3).
    expect(net.deliver(b, ATTACKER, held[0]!)).toBe(ReceiveOutcome.ACCEPTED);
    expect(b.core.path.target).toBeUndefined();
    // The newest genuine datagram, raced from the attacker's address (which cannot answer the encrypted
    // challenge): it starts a validation, which fails; B stays put.
    a.core.write(new Uint8Array(100).fill(8));
    let racedBytes: Uint8Array | undefined;
    net.intercept = (from, bytes) => {
      if (from !== a || racedBytes) return false;
      racedBytes = bytes;
      return true;
    };
    net.run(() => racedBytes !== undefined);
    net.intercept = undefined;
    if (!racedBytes) throw new Error('A sent nothing');
    expect(net.deliver(b, ATTACKER, racedBytes)).toBe(ReceiveOutcome.ACCEPTED);
    expect(b.core.path.target).toEqual(ATTACKER);
    net.run(() => b.messages.length === 9);
    net.run(() => b.outcomes.length > 0);
    expect(b.outcomes).toEqual([{ target: ATTACKER, kind: ValidationKind.REACTIVE, validated: false }]);
    expect(b.remote).toEqual(A_PUBLIC);
    expect(b.core.pathMigrations).toBe(0);
    expect(b.core.path.challengesSent).toBeGreaterThan(0);
    // Anti-amplification: the attacker's address got at most 3x the one datagram it sent.
    const sentToAttacker = net.sentTo.get(`${ATTACKER.host}:${ATTACKER.port}`) ?? 0;
    expect(sentToAttacker).toBeGreaterThan(0);
    expect(sentToAttacker).toBeLessThanOrEqual(3 * racedBytes.byteLength);
    expect(b.messages.map((m) => m[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('migrate() moves a relayed connection to a direct path on both sides without losing data', () => {
    const relay = { host: '203.0.113.100', port: 3_478 };
    const aDirect = { host: '198.51.100.1', port: 40_001 };
    const bDirect = { host: '203.0.113.2', port: 40_002 };
    const a = side('a', 1, relay, true);
    const b = side('b', 2, relay, true);
    const net = new Network(a, b, (from, destination) => {
      const other = from === a ? b : a;
      if (samePath(destination, relay)) return { to: other, source: relay };
      const direct = from === a ? bDirect : aDirect;
      if (samePath(destination, direct)) return { to: other, source: from === a ? aDirect : bDirect };
      return undefined;
    });
    a.core.startHandshake(0);
    b.core.startHandshake(0);
    net.run(() => a.opened && b.opened);
    writeMessages(a, 64, 16 * 1024);
    writeMessages(b, 64, 16 * 1024);
    net.run(() => b.messages.length >= 8);
    expect(a.core.migrate(bDirect, net.now)).toBe(true);
    expect(b.core.migrate(aDirect, net.now)).toBe(true);
    net.run(() => a.messages.length === 64 && b.messages.length === 64);
    expect(a.remote).toEqual(bDirect);
    expect(b.remote).toEqual(aDirect);
    expect(a.outcomes).toEqual([{ target: bDirect, kind: ValidationKind.DELIBERATE, validated: true }]);
    expect(a.rttKeptAtMove).toEqual([false]); // another host: a new path
    expect(b.messages.map((m) => m[0])).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(a.messages.map((m) => m[0])).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('migrate() to an address that does not answer fails and keeps the current path', () => {
    const { a, net } = directPair(true);
    expect(a.core.migrate(ATTACKER, net.now)).toBe(true);
    net.run(() => a.outcomes.length > 0);
    expect(a.outcomes).toEqual([{ target: ATTACKER, kind: ValidationKind.DELIBERATE, validated: false }]);
    expect(a.remote).toEqual(B_PUBLIC);
    expect(a.core.path.validationsFailed).toBe(1);
  });

  it('insecure: never follows a new address on its own, but answers path probes', () => {
    const { a, b, net, nat } = directPair(false);
    writeMessages(a, 4, 1024);
    net.run(() => b.messages.length === 4);
    nat.aSource = A_REBOUND;
    a.core.write(Uint8Array.of(99));
    net.run(() => false, 500);
    expect(b.remote).toEqual(A_PUBLIC);
    expect(b.core.path.target).toBeUndefined();
    expect(b.messages).toHaveLength(4); // data from the unvalidated address was not taken
  });

  it('sends no path frames to a peer that did not announce migration (an older build)', () => {
    const { a, b, net, nat } = directPair(true);
    b.core.peerMigrates = false;
    a.core.peerMigrates = false;
    expect(a.core.migrate(ATTACKER, net.now)).toBe(false);
    nat.aSource = A_REBOUND;
    a.core.write(Uint8Array.of(1));
    net.run(() => false, 500);
    expect(b.core.path.challengesSent).toBe(0);
    expect(b.remote).toEqual(A_PUBLIC);
  });
});

describe('PathValidator', () => {
  it('validates only on its own challenge data, echoed from the challenged address', () => {
    const validator = new PathValidator();
    const target = { host: '192.0.2.1', port: 1 };
    validator.start(target, ValidationKind.DELIBERATE, 0, 100);
    expect(validator.challengeDue(0)).toBe(true);
    const data = validator.nextChallenge(0, 100);
    expect(validator.challengeDue(1)).toBe(false);
    const other = validator.nextChallenge(200, 100);
    expect(Buffer.from(other).equals(Buffer.from(data))).toBe(false); // fresh random data each time
    validator.onResponse(new Uint8Array(8), target); // wrong data
    validator.onResponse(data, { host: '192.0.2.1', port: 2 }); // right data, other address
    validator.onResponse(data, undefined); // right data, on the current path
    expect(validator.takeOutcome()).toBeUndefined();
    validator.onResponse(data, target); // an earlier challenge's data still counts
    expect(validator.takeOutcome()).toEqual({ target, kind: ValidationKind.DELIBERATE, validated: true });
    expect(validator.target).toBeUndefined();
  });

  it('gives up after the validation time and limits an address the peer did not choose to 3x', () => {
    const validator = new PathValidator();
    const target = { host: '192.0.2.1', port: 1 };
    validator.start(target, ValidationKind.REACTIVE, 0, 100);
    expect(validator.allowance).toBe(0);
    validator.onReceivedFrom(target, 100);
    validator.onReceivedFrom({ host: '192.0.2.9', port: 1 }, 1_000);
    expect(validator.allowance).toBe(300);
    validator.onSentToTarget(250);
    expect(validator.allowance).toBe(50);
    // A deliberate validation replaces a reactive one; a reactive one never replaces a deliberate one.
    expect(validator.start({ host: '192.0.2.5', port: 5 }, ValidationKind.DELIBERATE, 10, 100)).toBe(true);
    expect(validator.takeOutcome()?.validated).toBe(false);
    expect(validator.start(target, ValidationKind.REACTIVE, 20, 100)).toBe(false);
    validator.onTimeout(2_999);
    expect(validator.takeOutcome()).toBeUndefined();
    validator.onTimeout(3_010);
    expect(validator.takeOutcome()?.validated).toBe(false);
    expect(validator.validationsFailed).toBe(2);
  });
});
