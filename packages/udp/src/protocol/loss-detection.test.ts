import { describe, expect, it } from 'vitest';
import type { AckEvent, CongestionController, LossEvent } from './congestion/controller.js';
import { LossDetector } from './loss-detection.js';
import { SentFlag, type SentPackets } from './sent-packets.js';

const BYTES = 1200;
const DATA = SentFlag.ACK_ELICITING | SentFlag.IN_FLIGHT;

class RecordingController implements CongestionController {
  readonly name = 'recording';
  congestionWindow = 1e9;
  acks: AckEvent[] = [];
  losses: LossEvent[] = [];
  pacingRate(): number {
    return 1e9;
  }
  onPacketSent(): void {}
  onAck(event: AckEvent): void {
    this.acks.push({ ...event });
  }
  onLoss(event: LossEvent): void {
    this.losses.push({ ...event });
  }
}

function setup() {
  const cc = new RecordingController();
  const acked: number[] = [];
  const lost: number[] = [];
  let current = 0;
  const detector = new LossDetector(cc, {
    onPacketAcked: (sent: SentPackets, slot: number) => acked.push(slotToPn(sent, slot)),
    onPacketLost: (sent: SentPackets, slot: number) => lost.push(slotToPn(sent, slot)),
  });
  function slotToPn(sent: SentPackets, slot: number): number {
    for (let pn = sent.base; pn < sent.next; pn++) if (sent.slot(pn) === slot) return pn;
    return -1;
  }
  const send = (count: number, at: number) => {
    for (let i = 0; i < count; i++) detector.onPacketSent(current++, at, BYTES, DATA);
  };
  const ack = (ranges: [number, number][], at: number) =>
    detector.onAck(
      ranges.flatMap(([lo, hi]) => [hi, lo]),
      ranges.length,
      0,
      at,
    );
  return { detector, cc, acked, lost, send, ack };
}

describe('LossDetector (RFC 9002 §6)', () => {
  it('declares packets lost three packet numbers behind an acknowledged one', () => {
    const { detector, lost, acked, send, ack, cc } = setup();
    send(10, 0);
    ack([[5, 9]], 10);
    expect(acked).toEqual([9, 8, 7, 6, 5]);
    expect(lost).toEqual([0, 1, 2, 3, 4]);
    expect(detector.packetsLost).toBe(5);
    expect(detector.bytesInFlight).toBe(0);
    expect(cc.losses).toHaveLength(1);
    expect(cc.acks[0]!.ackedBytes).toBe(5 * BYTES);
  });

  it('declares a packet lost after 9/8 RTT when too few later ones arrive', () => {
    const { detector, lost, send, ack } = setup();
    send(1, 9);
    send(1, 10);
    ack([[1, 1]], 20); // RTT sample 10 ms; packet 0 is only one behind and sent 11 ms ago
    expect(lost).toEqual([]);
    const deadline = detector.timerDeadline();
    expect(deadline).toBeCloseTo(9 + (9 / 8) * 10);
    expect(detector.onTimeout(deadline)).toBe(false);
    expect(lost).toEqual([0]);
  });

  it('backs off the probe timeout until a fresh RTT sample, not merely any acknowledgement', () => {
    const { detector, send, ack } = setup();
    send(3, 0);
    ack([[1, 1]], 10); // sample: 10 ms
    const pto = detector.probeTimeoutMs();
    // Packets 0 and 2 stay outstanding; the probe timer fires twice.
    expect(detector.onTimeout(detector.timerDeadline())).toBe(false); // loss timer for 0 first
    let at = detector.timerDeadline();
    expect(detector.onTimeout(at)).toBe(true);
    at = detector.timerDeadline();
    expect(detector.onTimeout(at)).toBe(true);
    expect(detector.ptoCount).toBe(2);
    expect(detector.probeTimeoutMs()).toBeCloseTo(pto * 4);
    // An acknowledgement of an old packet only (not the largest sent since) gives no RTT sample...
    send(1, at);
    ack([[1, 1]], at + 1);
    expect(detector.ptoCount).toBe(2);
    // ...an acknowledgement of the newest packet does, and resets the backoff.
    ack([[3, 3]], at + 5);
    expect(detector.ptoCount).toBe(0);
  });

  it('takes a delivery-rate sample from each acknowledgement', () => {
    const { send, ack, cc } = setup();
    send(10, 0);
    ack([[0, 9]], 10);
    send(10, 10);
    ack([[10, 19]], 20);
    expect(cc.acks[1]!.deliveryRate).toBeCloseTo((10 * BYTES) / 10);
  });

  it('does not call scattered random losses persistent congestion, only losses across repeated probe timeouts', () => {
    const { detector, send, ack, cc } = setup();
    send(1, 0);
    ack([[0, 0]], 10); // RTT 10 ms
    send(1, 10); // 1: will be lost
    send(5, 200); // 2..6
    send(1, 400); // 7: will be lost
    send(4, 400); // 8..11
    ack(
      [
        [2, 6],
        [8, 11],
      ],
      420,
    );
    expect(cc.losses.at(-1)!.persistentCongestion).toBe(false);
    // Now a black-out: two probe timeouts in a row, then the acknowledgement reveals a span of losses.
    send(1, 500); // 12
    detector.onTimeout(detector.timerDeadline());
    detector.onTimeout(detector.timerDeadline());
    expect(detector.ptoCount).toBe(2);
    send(1, 2_000); // 13
    send(3, 2_000); // 14..16
    ack([[14, 16]], 2_010);
    expect(cc.losses.at(-1)!.persistentCongestion).toBe(true);
  });
});
