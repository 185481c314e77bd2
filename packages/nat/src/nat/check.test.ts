import { describe, expect, it } from 'vitest';
import {
  startFakeNatServer,
  VIRTUAL_PUBLIC_IP,
  type VirtualNat,
} from '../../test/helpers/fake-nat-server.js';
import { startFakeStunServer } from '../../test/helpers/fake-stun-server.js';
import { checkNat } from './check.js';
import { formatNatReport, natSummary } from './report.js';

const QUICK = { timeoutPerTest: 250, rtoMs: 50, localAddress: '127.0.0.1' } as const;

async function check(nat: VirtualNat) {
  const server = await startFakeNatServer(nat);
  try {
    return await checkNat({ servers: [server.primary], ...QUICK, signal: AbortSignal.timeout(10_000) });
  } finally {
    await server.close();
  }
}

describe('checkNat verdicts against a virtual NAT', () => {
  it('endpoint-independent mapping, address-and-port-dependent filtering, preserved ports', async () => {
    const report = await check({
      mapping: 'endpoint-independent',
      filtering: 'address-and-port-dependent',
      allocation: 'preserved',
    });
    expect(report).toMatchObject({
      udpBlocked: false,
      rfc5780: true,
      behindNat: true,
      publicAddress: { host: VIRTUAL_PUBLIC_IP, port: report.local.port },
      mapping: { behaviour: 'endpoint-independent' },
      filtering: { behaviour: 'address-and-port-dependent' },
      portAllocation: { pattern: 'preserved' },
      hairpinning: { works: false },
    });
    expect(report.mapping.observations).toHaveLength(2);
    expect(report.filtering.tests.map((t) => t.answered)).toEqual([false, false]);
    expect(natSummary(report)).toBe('Direct UDP connections should work with most peers');
  });

  it('address-dependent mapping and filtering, sequential ports', async () => {
    const report = await check({
      mapping: 'address-dependent',
      filtering: 'address-dependent',
      allocation: 'sequential',
    });
    expect(report.mapping.behaviour).toBe('address-dependent');
    expect(report.mapping.observations).toHaveLength(3);
    expect(report.filtering.behaviour).toBe('address-dependent');
    expect(report.portAllocation).toMatchObject({ pattern: 'sequential', delta: 3 });
    expect(natSummary(report)).toMatch(/allocates ports sequentially/);
  });

  it('address-and-port-dependent mapping, open filtering, random ports', async () => {
    const report = await check({
      mapping: 'address-and-port-dependent',
      filtering: 'endpoint-independent',
      allocation: 'random',
    });
    expect(report.mapping.behaviour).toBe('address-and-port-dependent');
    expect(report.filtering.behaviour).toBe('endpoint-independent');
    expect(report.portAllocation.pattern).toBe('random');
    const text = formatNatReport(report);
    expect(text).toMatch(/^Mapping: +address-and-port-dependent \(127\.0\.0\.1:\d+ saw 127\.0\.0\.9:\d+; /m);
    expect(text.split('\n').at(-1)).toBe(
      'Summary: Your NAT picks a new port for every destination (endpoint-dependent mapping): direct connections need the peer to have an easy NAT; otherwise Antt falls back to a relay.',
    );
  });

  it('without RFC 5780, two servers still tell whether the mapping depends on the destination', async () => {
    const a = await startFakeStunServer(() => ({
      xorMappedAddress: { host: VIRTUAL_PUBLIC_IP, port: 50_001 },
    }));
    const b = await startFakeStunServer(() => ({
      xorMappedAddress: { host: VIRTUAL_PUBLIC_IP, port: 50_002 },
    }));
    try {
      const report = await checkNat({ servers: [a.address, b.address], ...QUICK });
      expect(report.rfc5780).toBe(false);
      expect(report.mapping.behaviour).toBe('address-and-port-dependent'); // same IP, another port
      expect(report.filtering).toMatchObject({
        behaviour: 'unknown',
        note: expect.stringMatching(/RFC 5780/),
      });
      const single = await checkNat({ servers: [a.address], ...QUICK });
      expect(single.mapping).toMatchObject({
        behaviour: 'unknown',
        note: expect.stringMatching(/give a second server/),
      });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reports UDP blocked when no server answers', async () => {
    const silent = await startFakeStunServer(() => 'drop');
    try {
      const report = await checkNat({ servers: [silent.address], ...QUICK });
      expect(report.udpBlocked).toBe(true);
      expect(report.publicAddress).toBeUndefined();
      const text = formatNatReport(report);
      expect(text).toMatch(/^UDP: +blocked\? no STUN server answered$/m);
      expect(text).toMatch(/no STUN answer from 127\.0\.0\.1:\d+ after \d+ attempts/);
      expect(text.split('\n').at(-1)).toMatch(/^Summary: UDP seems blocked/);
    } finally {
      await silent.close();
    }
  });

  it('rejects an empty server list and honours abort', async () => {
    await expect(checkNat({ servers: [] })).rejects.toThrow(/at least one STUN server/);
    const silent = await startFakeStunServer(() => 'drop');
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      await expect(checkNat({ servers: [silent.address], signal: controller.signal })).rejects.toMatchObject({
        code: 'ANTT_ERR_ABORTED',
      });
    } finally {
      await silent.close();
    }
  });
});
