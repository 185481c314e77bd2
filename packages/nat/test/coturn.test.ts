import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { checkNat } from '../src/nat/check.js';
import { formatNatReport } from '../src/nat/report.js';
import { bindSocket, stunBinding } from '../src/stun/client.js';
import { type Coturn, coturnSkipReason, startCoturn } from './helpers/coturn.js';

const skip = coturnSkipReason();

describe.skipIf(skip !== undefined)('against coturn on loopback', () => {
  let coturn: Coturn;
  beforeAll(async () => {
    // Two loopback IPs (all of 127/8 is local on Linux) make coturn advertise RFC 5780 support.
    coturn = await startCoturn({ ips: ['127.0.0.1', '127.0.0.2'] });
  }, 20_000);
  afterAll(async () => {
    await coturn?.stop();
  });

  it('stunBinding reports the socket’s own address as the mapping, with RFC 5780 attributes', async () => {
    const socket = await bindSocket('udp4', '127.0.0.1');
    try {
      const result = await stunBinding({ server: coturn.address, socket, signal: AbortSignal.timeout(5000) });
      console.log('coturn answered:', JSON.stringify(result));
      expect(result.mapped).toEqual({ host: '127.0.0.1', port: socket.address().port, family: 'IPv4' });
      expect(result.responseOrigin).toEqual({ ...coturn.address, family: 'IPv4' });
      expect(result.otherAddress).toEqual({
        host: '127.0.0.2',
        port: coturn.address.port + 1,
        family: 'IPv4',
      });
      expect(result.software).toMatch(/Coturn/);
    } finally {
      socket.close();
    }
  });

  it('CHANGE-REQUEST is answered from the alternate address', async () => {
    const result = await stunBinding({
      server: coturn.address,
      localAddress: '127.0.0.1',
      changeRequest: { changeIp: true, changePort: true },
      signal: AbortSignal.timeout(5000),
    });
    expect(result.from).toEqual({ host: '127.0.0.2', port: coturn.address.port + 1 });
  });

  it('checkNat on loopback finds no NAT, open filtering, preserved ports and hairpinning', async () => {
    const report = await checkNat({
      servers: [`${coturn.address.host}:${coturn.address.port}`],
      timeoutPerTest: 1000,
      rtoMs: 100,
      signal: AbortSignal.timeout(20_000),
    });
    console.log(formatNatReport(report));
    expect(report).toMatchObject({
      udpBlocked: false,
      rfc5780: true,
      behindNat: false,
      mapping: { behaviour: 'endpoint-independent' },
      filtering: { behaviour: 'endpoint-independent' },
      portAllocation: { pattern: 'preserved' },
      hairpinning: { works: true },
    });
    expect(report.publicAddress?.port).toBe(report.local.port);
  }, 30_000);

  it('antt-nat check --server prints the report', async () => {
    let stdout = '';
    const status = await runCli(
      ['check', '--server', `127.0.0.1:${coturn.address.port}`, '--timeout', '1000', '--rto', '100'],
      { stdout: (t) => (stdout += t), stderr: (t) => (stdout += t) },
    );
    console.log(
      `$ antt-nat check --server 127.0.0.1:${coturn.address.port} --timeout 1000 --rto 100\n${stdout}`,
    );
    expect(status).toBe(0);
    expect(stdout).toMatch(/^UDP: +yes, 127\.0\.0\.1:\d+ answered/);
    expect(stdout).toMatch(/^Mapping: +endpoint-independent/m);
    expect(stdout).toMatch(/^Summary: No NAT/m);
  }, 30_000);
});
