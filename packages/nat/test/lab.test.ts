import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLab,
  describeLab,
  type Lab,
  type LabHost,
  type LabProcess,
  type RouterOptions,
} from '@antt/test-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NatReport } from '../src/nat/check.js';
import { coturnArgs, coturnSkipReason, findTurnserver } from './helpers/coturn.js';

/** A second address for the STUN host, far from the ones the lab hands out (from .2 upwards). */
const ALTERNATE_SERVER_IP = '203.0.113.250';
const STUN_PORT = 3478;
const CHECK_SCRIPT = new URL('./fixtures/lab-check.ts', import.meta.url);

const coturnMissing = coturnSkipReason();

describeLab('checkNat behind real Linux NATs (namespace lab, coturn with two IPs)', () => {
  let lab: Lab;
  let stun: LabHost;
  let coturn: LabProcess;
  let coturnDir: string;

  beforeAll(async () => {
    if (coturnMissing) return;
    lab = await createLab({ name: 'nat-check' });
    stun = await lab.addPublicHost('stun');
    await stun.run(['ip', 'addr', 'add', `${ALTERNATE_SERVER_IP}/24`, 'dev', 'eth0']);
    coturnDir = mkdtempSync(join(tmpdir(), 'antt-lab-coturn-'));
    coturn = stun.exec([
      findTurnserver()!,
      ...coturnArgs([stun.address, ALTERNATE_SERVER_IP], STUN_PORT, coturnDir),
    ]);
    await coturn.waitForOutput('Total General servers', { timeoutMs: 10_000 });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
    if (coturnDir) rmSync(coturnDir, { recursive: true, force: true });
  }, 30_000);

  /** Runs the check on a fresh host behind a fresh router; returns the report and prints the text. */
  async function checkBehind(
    name: string,
    router: RouterOptions,
  ): Promise<{ report: NatReport; text: string }> {
    const nat = await lab.addRouter(`${name}_nat`, router);
    const host = await lab.addHost(name, { behind: nat });
    const child = host.spawnNode(CHECK_SCRIPT, [`${stun.address}:${STUN_PORT}`, '1000', '200'], {
      // Workspace packages resolve to their TypeScript sources, as in Vitest.
      env: { NODE_OPTIONS: '--conditions=source' },
      timeoutMs: 40_000,
    });
    const exit = await child.exited;
    expect(exit.code, child.stderr).toBe(0);
    const [json, ...text] = child.stdout.trimEnd().split('\n');
    const report = JSON.parse(json!.replace(/^REPORT /, '')) as NatReport;
    console.log(
      `--- ${name}: router ${JSON.stringify(router)}, public address ${nat.publicAddress}\n${text.join('\n')}`,
    );
    expect(report.publicAddress?.host ?? nat.publicAddress).toBe(nat.publicAddress);
    return { report, text: text.join('\n') };
  }

  it.skipIf(coturnMissing !== undefined)(
    'endpoint-independent router: endpoint-independent mapping',
    async () => {
      const { report, text } = await checkBehind('easy', { mapping: 'endpoint-independent' });
      expect(report).toMatchObject({
        udpBlocked: false,
        rfc5780: true,
        behindNat: true,
        mapping: { behaviour: 'endpoint-independent' },
        // Linux conntrack admits only the exact remote address and port.
        filtering: { behaviour: 'address-and-port-dependent' },
        portAllocation: { pattern: 'preserved' },
      });
      expect(text).toMatch(/^Summary: Direct UDP connections should work with most peers\.$/m);
    },
    60_000,
  );

  it.skipIf(coturnMissing !== undefined)(
    'endpoint-dependent router: endpoint-dependent mapping, random ports',
    async () => {
      const { report, text } = await checkBehind('hard', { mapping: 'endpoint-dependent' });
      expect(report.behindNat).toBe(true);
      expect(['address-dependent', 'address-and-port-dependent']).toContain(report.mapping.behaviour);
      expect(report.portAllocation.pattern).toBe('random');
      expect(text).toMatch(/^Summary: Your NAT picks a new port for every destination/m);
    },
    60_000,
  );

  it.skipIf(coturnMissing !== undefined)(
    'router that blocks UDP: UDP blocked',
    async () => {
      const { report, text } = await checkBehind('blocked', { blockUdp: true });
      expect(report.udpBlocked).toBe(true);
      expect(text).toMatch(/^Summary: UDP seems blocked/m);
    },
    60_000,
  );
});
