import { AnttError, ErrorCode } from '@antt/core';
import { type ConnectionPath, NatConnectError, type TcpConnectionPath } from '@antt/nat';
import { describe, expect, it } from 'vitest';
import { describePath, describeStageFailure, describeWait, stageOf } from './meeting.js';

const common = {
  local: { host: '0.0.0.0', port: 40001 },
  observed: { host: '198.51.100.4', port: 61001 },
  tried: [],
  peerName: 'bob',
};

describe('the words for a rendezvous meeting', () => {
  it('says whom it waits for and what the other side gives', () => {
    const server = { host: '203.0.113.2', port: 3478 };
    expect(describeWait({ server, serverText: '203.0.113.2:3478', name: 'alice', peerName: 'bob' })).toBe(
      '"bob" at rendezvous 203.0.113.2:3478 (there: --name bob --peer-name alice)',
    );
    expect(describeWait({ server, serverText: 'r.example:3478', name: 'room', peerName: undefined })).toBe(
      '"room" at rendezvous r.example:3478 (there: --name room)',
    );
  });

  it('a direct path: the candidate and every stage, added up', () => {
    const path: ConnectionPath = {
      ...common,
      transport: 'udp',
      kind: 'direct',
      candidate: 'public',
      remote: { host: '203.0.113.9', port: 56521 },
      stages: { registerMs: 3, exchangeMs: 6, punchMs: 95, handshakeMs: 210 },
    };
    expect(describePath(path)).toBe(
      "path: direct to 203.0.113.9:56521 (the peer's public address, as the rendezvous server saw it); connected in 314 ms (register 3 ms, waiting for the peer 6 ms, punch 95 ms, handshake 210 ms)",
    );
  });

  it('a relayed path: through which server, its rate cap, and why punching was not enough', () => {
    const relay = { host: '203.0.113.2', port: 3478 };
    const path: ConnectionPath = {
      ...common,
      transport: 'udp',
      kind: 'relayed',
      candidate: 'relay',
      remote: relay,
      relay,
      peerObserved: { host: '198.51.100.9', port: 62482 },
      reason: 'punching timed out after 3 s: 118 probes, no answer',
      relayRateBytesPerSec: 1_000_000,
      relayIdleTimeoutSec: 30,
      stages: { registerMs: 4, exchangeMs: 9, punchMs: 3002, relayMs: 2, handshakeMs: 230 },
    };
    expect(describePath(path)).toBe(
      'path: relayed by the rendezvous server 203.0.113.2:3478 (it sees only ciphertext; at most 1.0 MB/s) because punching timed out after 3 s; connected in 3.2 s (register 4 ms, waiting for the peer 9 ms, punch 3.0 s, relay 2 ms, handshake 230 ms)',
    );
  });

  it('a direct TCP path after UDP was tried: the simultaneous open is named as such', () => {
    const path: TcpConnectionPath = {
      ...common,
      transport: 'tcp',
      kind: 'direct',
      candidate: 'lan',
      attempts: 1,
      remote: { host: '192.168.1.20', port: 40002 },
      stages: { udpMs: 5000, registerMs: 4, exchangeMs: 8, punchMs: 300 },
    };
    expect(describePath(path)).toBe(
      "path: direct to 192.168.1.20:40002 (the peer's LAN address); connected in 5.3 s (udp tried first 5.0 s, register 4 ms, waiting for the peer 8 ms, open and handshake 300 ms)",
    );
  });

  it('a failed stage is named; other errors are not stage failures', () => {
    const error = new NatConnectError(ErrorCode.REFUSED, 'relay', 'rendezvous server x refused a relay');
    expect(stageOf(error)).toBe('relay');
    expect(describeStageFailure(error)).toBe(
      'could not connect (relay stage): rendezvous server x refused a relay',
    );
    expect(describeStageFailure(new AnttError(ErrorCode.TIMEOUT, 'plain'))).toBeUndefined();
  });
});
