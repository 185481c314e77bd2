import type { Address } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { BIRTHDAY_PROBES, BIRTHDAY_SOCKETS } from './birthday.js';
import {
  birthdayMissProbability,
  classifyMapping,
  DEPENDENT_PAIR_PUNCH_MS,
  FIRST_NAT_PORT,
  LAST_NAT_PORT,
  PREDICTION_WINDOW_PORTS,
  planPunch,
  predictPorts,
  punchBudgetMs,
} from './port-prediction.js';
import { UdpPunch } from './udp-punch.js';

const PUBLIC_IP = '198.51.100.7';
const SERVER_MAIN: Address = { host: '203.0.113.2', port: 3478 };
const SERVER_ALT: Address = { host: '203.0.113.2', port: 3479 };
const PEER: Address = { host: '203.0.113.9', port: 40000 };

/** A deterministic PRNG (mulberry32), so each simulated NAT replays from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One inside socket behind a simulated NAT: `send(to)` returns the outside address the NAT uses for
 * that destination, allocating a new mapping per destination unless endpoint-independent.
 * `otherFlows()` stands for other hosts behind the same NAT opening flows in between.
 */
class SimulatedNat {
  readonly #mappings = new Map<string, number>();
  #next: number;
  constructor(
    readonly allocation: 'independent' | 'sequential' | 'random',
    readonly options: { first?: number; step?: number; seed?: number } = {},
  ) {
    this.#next = options.first ?? 20_000;
    this.#random = prng(options.seed ?? 1);
  }
  readonly #random: () => number;

  send(to: Address): Address {
    const key = `${to.host}:${to.port}`;
    let port = this.#mappings.get(key);
    if (port === undefined) {
      port =
        this.allocation === 'independent' && this.#mappings.size > 0
          ? [...this.#mappings.values()][0]!
          : this.#allocate();
      this.#mappings.set(key, port);
    }
    return { host: PUBLIC_IP, port };
  }

  otherFlows(count: number): void {
    for (let i = 0; i < count; i++) this.#allocate();
  }

  #allocate(): number {
    if (this.allocation === 'random') {
      return FIRST_NAT_PORT + Math.floor(this.#random() * (LAST_NAT_PORT - FIRST_NAT_PORT + 1));
    }
    const port = this.#next;
    this.#next += this.options.step ?? 1;
    return port;
  }
}

/** What the rendezvous server's two ports see of the socket. */
function observe(nat: SimulatedNat) {
  return { primary: nat.send(SERVER_MAIN), alternate: nat.send(SERVER_ALT) };
}

describe('mapping classification and port prediction (simulated NATs)', () => {
  it('endpoint-independent: the same port on both server ports', () => {
    const profile = classifyMapping(observe(new SimulatedNat('independent')));
    expect(profile).toMatchObject({ kind: 'endpoint-independent' });
    expect(predictPorts(profile)).toEqual([]);
  });

  it('no alternate observation (an older server): unknown, and the standard technique', () => {
    const nat = new SimulatedNat('random');
    const profile = classifyMapping({ primary: nat.send(SERVER_MAIN) });
    expect(profile.kind).toBe('unknown');
    const eim = observe(new SimulatedNat('independent'));
    expect(planPunch(eim, { primary: nat.send(SERVER_MAIN) }).technique).toBe('standard');
  });

  for (const step of [1, 2, 7]) {
    for (const between of [0, 3, 10]) {
      it(`sequential step ${step}, ${between} other flows in between: the port toward the peer is predicted`, () => {
        const nat = new SimulatedNat('sequential', { first: 31_000, step });
        const profile = classifyMapping(observe(nat));
        expect(profile).toMatchObject({ kind: 'endpoint-dependent', allocation: 'sequential', delta: step });
        // The opener probes the peer's LAN candidates (new flows too) before its public address.
        nat.otherFlows(between);
        for (let lan = 0; lan < 2; lan++) nat.send({ host: `10.0.9.${lan + 2}`, port: 4000 });
        const actual = nat.send(PEER);
        const predicted = predictPorts(profile);
        expect(predicted).toHaveLength(PREDICTION_WINDOW_PORTS);
        expect(predicted).toContain(actual.port);
      });
    }
  }

  it('a sequential NAT near the top of the range predicts only valid ports', () => {
    const nat = new SimulatedNat('sequential', { first: 65_530, step: 2 });
    expect(predictPorts(classifyMapping(observe(nat)))).toEqual([65_534]);
  });

  it('random allocation is almost never misread (seeded: 2000 NATs)', () => {
    let misread = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const profile = classifyMapping(observe(new SimulatedNat('random', { seed })));
      if (profile.kind !== 'endpoint-dependent' || profile.allocation !== 'random') misread++;
    }
    // P(|delta| <= 16) = 33 / 64512 per NAT (0 included: the same port twice looks independent). A
    // sequential misreading only delays the birthday start by PREDICTION_HEAD_START_MS.
    expect(misread).toBeLessThanOrEqual(4);
  });

  it('plans the same technique on both sides, with complementary roles', () => {
    const eim = observe(new SimulatedNat('independent'));
    const random = observe(new SimulatedNat('random', { seed: 42 }));
    const sequential = observe(new SimulatedNat('sequential', { step: 1 }));
    expect(planPunch(eim, random)).toMatchObject({ technique: 'birthday', role: 'prober' });
    expect(planPunch(random, eim)).toMatchObject({ technique: 'birthday', role: 'opener' });
    expect(planPunch(eim, sequential)).toMatchObject({ technique: 'predict', role: 'prober' });
    expect(planPunch(sequential, eim)).toMatchObject({ technique: 'predict', role: 'opener' });
    expect(planPunch(random, observe(new SimulatedNat('random', { seed: 7 })))).toMatchObject({
      technique: 'standard',
    });
    expect(planPunch(eim, observe(new SimulatedNat('independent')))).toMatchObject({ technique: 'standard' });
  });
});

describe('punchBudgetMs', () => {
  it('cuts the punch stage short only when both NATs are endpoint-dependent', () => {
    const eim = observe(new SimulatedNat('independent'));
    const random = observe(new SimulatedNat('random', { seed: 5 }));
    const other = observe(new SimulatedNat('random', { seed: 6 }));
    expect(punchBudgetMs(planPunch(random, other), 10_000)).toBe(DEPENDENT_PAIR_PUNCH_MS);
    expect(punchBudgetMs(planPunch(random, other), 500)).toBe(500);
    expect(punchBudgetMs(planPunch(eim, random), 10_000)).toBe(10_000);
    expect(punchBudgetMs(planPunch(eim, eim), 10_000)).toBe(10_000);
    expect(punchBudgetMs(undefined, 10_000)).toBe(10_000);
  });
});

describe('birthdayMissProbability', () => {
  it('is the hypergeometric miss chance: C(r - s, p) / C(r, p)', () => {
    // r = 10, s = 2, p = 3: C(8, 3) / C(10, 3) = 56 / 120.
    expect(birthdayMissProbability(2, 3, 10)).toBeCloseTo(56 / 120, 12);
    expect(birthdayMissProbability(5, 6, 10)).toBe(0);
  });

  it('the stated budget misses less than once in ten million runs', () => {
    const miss = birthdayMissProbability(BIRTHDAY_SOCKETS, BIRTHDAY_PROBES);
    expect(miss).toBeLessThan(1e-7);
    expect(miss).toBeGreaterThan(1e-8);
  });
});

describe('prediction punching between simulated NATs', () => {
  /**
   * The prober behind an endpoint-independent NAT (one public address, address-and-port-dependent
   * filtering), the opener behind a sequential endpoint-dependent one: a new port per destination, the
   * next one after `step`, with `between` other hosts' flows opened after the server saw it.
   */
  function network(step: number, between: number) {
    const proberPublic: Address = { host: '198.51.100.1', port: 5000 };
    const permits = new Set<string>();
    const nat = new SimulatedNat('sequential', { first: 31_000, step });
    const inbound = new Map<number, string>();
    const send = (to: Address): Address => {
      const from = nat.send(to);
      inbound.set(from.port, `${to.host}:${to.port}`);
      return from;
    };
    const observations = { primary: send(SERVER_MAIN), alternate: send(SERVER_ALT) };
    nat.otherFlows(between);
    const sides: { prober?: UdpPunch; opener?: UdpPunch } = {};
    return {
      proberPublic,
      observations,
      fromProber(bytes: Uint8Array, to: Address) {
        permits.add(`${to.host}:${to.port}`);
        setImmediate(() => {
          if (to.host !== PUBLIC_IP || inbound.get(to.port) !== `${proberPublic.host}:${proberPublic.port}`)
            return;
          sides.opener?.handleDatagram(bytes, proberPublic);
        });
      },
      fromOpener(bytes: Uint8Array, to: Address) {
        const from = send(to);
        setImmediate(() => {
          if (to.host !== proberPublic.host || to.port !== proberPublic.port) return; // LAN: nowhere
          if (permits.has(`${from.host}:${from.port}`)) sides.prober?.handleDatagram(bytes, from);
        });
      },
      sides,
      mappingTowardProber: () => nat.send(proberPublic).port,
    };
  }

  for (const [step, between] of [
    [1, 0],
    [2, 5],
  ] as const) {
    it(`the prober meets the port it predicted (step ${step}, ${between} flows in between)`, async () => {
      const net = network(step, between);
      const session = Uint8Array.of(1, 1, 2, 3, 5, 8, 13, 21);
      const proberPlan = planPunch(
        { primary: net.proberPublic, alternate: net.proberPublic },
        net.observations,
      );
      expect(proberPlan).toMatchObject({ technique: 'predict', role: 'prober' });
      const predicted = predictPorts(proberPlan.peer).map((port) => ({
        address: { host: PUBLIC_IP, port },
        kind: 'predicted' as const,
      }));
      const prober = new UdpPunch({
        session,
        controlling: true,
        candidates: [{ address: net.observations.primary, kind: 'public' }, ...predicted],
        send: (bytes, to) => net.fromProber(bytes, to),
      });
      // The opener probes the prober's LAN candidates (new flows, new ports) and then its public address.
      const opener = new UdpPunch({
        session,
        controlling: false,
        candidates: [
          { address: { host: '10.0.1.2', port: 4000 }, kind: 'lan' },
          { address: { host: '10.0.1.3', port: 4000 }, kind: 'lan' },
          { address: net.proberPublic, kind: 'public' },
        ],
        send: (bytes, to) => net.fromOpener(bytes, to),
      });
      net.sides.prober = prober;
      net.sides.opener = opener;
      const signal = AbortSignal.timeout(10_000);
      const [atProber, atOpener] = await Promise.all([
        prober.run({ signal, timeout: 10_000 }),
        opener.run({ signal, timeout: 10_000 }),
      ]);
      expect(atProber).toMatchObject({
        candidate: 'predicted',
        remote: { host: PUBLIC_IP, port: net.mappingTowardProber() },
      });
      expect(atOpener).toMatchObject({ candidate: 'public', remote: net.proberPublic });
    });
  }
});
