import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../rtt.js';
import { Bbr } from './bbr.js';
import type { AckEvent } from './controller.js';
import { NewReno } from './new-reno.js';

const MSS = 1200;

function ackEvent(rtt: RttEstimator, partial: Partial<AckEvent>): AckEvent {
  return {
    now: 0,
    ackedBytes: MSS,
    priorInFlight: 1e9,
    largestAckedTimeSent: 0,
    deliveryRate: 0,
    delivered: 0,
    packetDelivered: 0,
    appLimited: false,
    rtt,
    ...partial,
  };
}

describe('NewReno (RFC 9002 §7)', () => {
  it('starts at 10 datagrams, doubles per round in slow start and halves once per recovery period', () => {
    const rtt = new RttEstimator();
    rtt.update(10, 0);
    const cc = new NewReno(MSS);
    expect(cc.congestionWindow).toBe(10 * MSS);
    for (let i = 0; i < 10; i++) cc.onAck(ackEvent(rtt, { now: 10, largestAckedTimeSent: 0 }));
    expect(cc.congestionWindow).toBe(20 * MSS);
    cc.onLoss({ now: 20, lostBytes: MSS, largestLostTimeSent: 15, persistentCongestion: false, rtt });
    expect(cc.congestionWindow).toBe(10 * MSS);
    // A second loss of a packet sent before recovery began does not reduce again.
    cc.onLoss({ now: 21, lostBytes: MSS, largestLostTimeSent: 16, persistentCongestion: false, rtt });
    expect(cc.congestionWindow).toBe(10 * MSS);
    // Acknowledgements of packets sent during recovery do not grow the window...
    cc.onAck(ackEvent(rtt, { now: 25, largestAckedTimeSent: 19 }));
    expect(cc.congestionWindow).toBe(10 * MSS);
    // ...after it, congestion avoidance adds one datagram per window acknowledged.
    for (let i = 0; i < 10; i++) cc.onAck(ackEvent(rtt, { now: 40, largestAckedTimeSent: 30 }));
    expect(cc.congestionWindow).toBe(11 * MSS);
    cc.onLoss({ now: 50, lostBytes: MSS, largestLostTimeSent: 45, persistentCongestion: true, rtt });
    expect(cc.congestionWindow).toBe(2 * MSS);
  });

  it('does not grow while the application leaves the window mostly empty (RFC 9002 §7.8)', () => {
    const rtt = new RttEstimator();
    const cc = new NewReno(MSS);
    cc.onAck(ackEvent(rtt, { priorInFlight: MSS, now: 1 }));
    expect(cc.congestionWindow).toBe(10 * MSS);
  });
});

describe('BBR-style controller', () => {
  /** A path of `bandwidth` bytes/ms and `rttMs`, with random loss the model must not react to. */
  function run(cc: Bbr, lossRate: number, rounds: number) {
    const rtt = new RttEstimator();
    const bandwidth = 1_000; // 1 MB/s per ms unit: 1000 bytes/ms
    const rttMs = 20;
    let delivered = 0;
    let random = 12345;
    for (let round = 0; round < rounds; round++) {
      const now = round * rttMs;
      rtt.update(rttMs, 0);
      const packetDelivered = delivered;
      const perRound = Math.min(cc.congestionWindow, bandwidth * rttMs);
      for (let sent = 0; sent < perRound; sent += MSS) {
        random = (random * 1103515245 + 12345) & 0x7fffffff;
        if (random / 0x7fffffff < lossRate) {
          cc.onLoss({ now, lostBytes: MSS, largestLostTimeSent: now, persistentCongestion: false, rtt });
          continue;
        }
        delivered += MSS;
        cc.onAck(
          ackEvent(rtt, {
            now: now + rttMs,
            delivered,
            packetDelivered,
            deliveryRate: Math.min(bandwidth, perRound / rttMs),
            priorInFlight: perRound,
          }),
        );
      }
    }
    return { bandwidth, rttMs };
  }

  it('finds the bandwidth, leaves startup, and keeps its window under 5% random loss', () => {
    const cc = new Bbr(MSS);
    const { bandwidth, rttMs } = run(cc, 0.05, 60);
    expect(cc.mode).toBe('probe_bw');
    expect(cc.bandwidth).toBeGreaterThan(bandwidth * 0.8);
    expect(cc.congestionWindow).toBeGreaterThanOrEqual(bandwidth * rttMs);
  });

  it('restarts its model on persistent congestion', () => {
    const cc = new Bbr(MSS);
    run(cc, 0, 30);
    const rtt = new RttEstimator();
    cc.onLoss({ now: 1, lostBytes: MSS, largestLostTimeSent: 1, persistentCongestion: true, rtt });
    expect(cc.mode).toBe('startup');
    expect(cc.congestionWindow).toBe(4 * MSS);
  });

  it('stays in startup through app-limited pings on an idle connection', () => {
    // Ten ping-pongs before a bulk transfer: each ack is app-limited and its delivery rate creeps up.
    // Taking those rounds as "the pipe is full" once left the path's bandwidth at a ping's rate.
    const cc = new Bbr(MSS);
    const rtt = new RttEstimator();
    let delivered = 0;
    for (let round = 0; round < 10; round++) {
      rtt.update(1, 0);
      const packetDelivered = delivered;
      delivered += 40;
      cc.onAck(
        ackEvent(rtt, {
          now: round,
          ackedBytes: 40,
          delivered,
          packetDelivered,
          appLimited: true,
          deliveryRate: 40 + round,
        }),
      );
    }
    expect(cc.mode).toBe('startup');
  });

  it('counts its minimum window in the datagrams it really sends after path-MTU growth', () => {
    const cc = new Bbr(MSS);
    const large = 16 * 1024;
    cc.onPacketSent(0, large);
    const rtt = new RttEstimator();
    cc.onLoss({ now: 1, lostBytes: large, largestLostTimeSent: 1, persistentCongestion: true, rtt });
    expect(cc.congestionWindow).toBe(4 * large);
  });
});
