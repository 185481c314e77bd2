import type { Address } from '@antt/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OwnMapping, PeerInfo, RendezvousClient, SessionMapping } from '../rendezvous/client.js';
import { decodeRendezvousMessage, MessageType } from '../rendezvous/protocol.js';
import { punchPeer } from './punch-peer.js';

const SELF: Address = { host: '203.0.113.10', port: 40_000 };
const PEER: Address = { host: '203.0.113.20', port: 50_000 };
/** The server's synchronised start, as PEER-INFO says it. */
const START_DELAY_MS = 300;
/** The PEER-MAPPING answer comes back after this (a round trip to the server). */
const MAPPING_ANSWER_MS = 100;
const PUNCH_TIMEOUT_MS = 600;

const endpointIndependent = (address: Address) => ({ primary: address, alternate: address });
const sequential = (address: Address) => ({
  primary: address,
  alternate: { host: address.host, port: address.port + 1 },
});

/**
 * Runs punchPeer against a fake rendezvous client and a silent peer; returns when (fake clock, ms after
 * PEER-INFO) each PROBE left. Nobody answers, so it ends in a PunchError.
 */
async function probeTimes(
  self: SessionMapping['self'],
  peer: SessionMapping['peer'],
  /** When discoverMapping() resolves, and when its alternate-port query left (undefined: not said). */
  timing: { ownMappingMs: number; alternateQueriedMs?: number } = { ownMappingMs: 0 },
): Promise<number[]> {
  const receivedAt = performance.now();
  const sentAt: number[] = [];
  const client = {
    peerMapping: () =>
      new Promise<SessionMapping>((resolve) => setTimeout(() => resolve({ self, peer }), MAPPING_ANSWER_MS)),
  } as unknown as RendezvousClient;
  const info: PeerInfo = {
    session: new Uint8Array(8).fill(3),
    controlling: true,
    startDelayMs: START_DELAY_MS,
    peerName: 'peer',
    observed: PEER,
    candidates: [],
    receivedAt,
  } as unknown as PeerInfo;
  const own: OwnMapping = { ...self, alternatePort: 3479 };
  const outcome = punchPeer({
    client,
    peer: info,
    ownMapping: new Promise((resolve) => setTimeout(() => resolve(own), timing.ownMappingMs)),
    ...(timing.alternateQueriedMs === undefined
      ? {}
      : {
          alternateQueried: new Promise<void>((resolve) => setTimeout(resolve, timing.alternateQueriedMs)),
        }),
    send: (bytes) => {
      const message = decodeRendezvousMessage(bytes);
      if (message.type === MessageType.PROBE && !message.ack) sentAt.push(performance.now() - receivedAt);
    },
    onPunch: () => {},
    endpointOptions: { insecure: true },
    timeout: PUNCH_TIMEOUT_MS,
  }).catch((error: unknown) => error);
  await vi.advanceTimersByTimeAsync(START_DELAY_MS + PUNCH_TIMEOUT_MS + 500);
  await outcome;
  return sentAt;
}

describe('punchPeer: when probing starts', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('behind an endpoint-independent NAT it probes at once, not at the synchronised start', async () => {
    const sentAt = await probeTimes(endpointIndependent(SELF), endpointIndependent(PEER));
    expect(sentAt.length).toBeGreaterThan(0);
    // Before the server's answer on the technique, too: that round trip hides under the probes'.
    expect(sentAt[0]).toBeLessThan(MAPPING_ANSWER_MS);
  });

  it('it starts once the alternate-port query left, before its own mapping is known', async () => {
    const sentAt = await probeTimes(endpointIndependent(SELF), endpointIndependent(PEER), {
      ownMappingMs: 80,
      alternateQueriedMs: 10,
    });
    expect(sentAt.length).toBeGreaterThan(0);
    expect(sentAt[0]).toBeGreaterThanOrEqual(10);
    expect(sentAt[0]).toBeLessThan(80);
  });

  it('behind an endpoint-dependent NAT (prediction) it keeps the synchronised start', async () => {
    const sentAt = await probeTimes(sequential(SELF), endpointIndependent(PEER));
    expect(sentAt.length).toBeGreaterThan(0);
    expect(sentAt[0]).toBeGreaterThanOrEqual(START_DELAY_MS - 1);
  });
});
