import { ErrorCode } from '@antt/core';
import { createLab, describeLab, type Lab, type LabHost, type LabRouter } from '@antt/test-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';

const PEER = new URL('./fixtures/lab-peer.ts', import.meta.url);
const TRIALS = 20;
const PORT_A = 41_000;
const PORT_B = 42_000;

interface Trial {
  index: number;
  ok: boolean;
  code?: string;
  text: string;
}

/** Runs both peers (each on its host, towards the other's NAT) and collects their trial lines. */
async function runPeers(
  a: LabHost,
  natA: LabHost | LabRouter,
  b: LabHost,
  natB: LabHost | LabRouter,
  options: { trials: number; connectTimeoutMs: number; portOffset: number; bStartDelayMs?: number },
): Promise<{ a: Trial[]; b: Trial[] }> {
  const plan = (role: 'client' | 'server', local: number, remoteHost: string, remote: number): string =>
    JSON.stringify({
      role,
      localPortBase: local + options.portOffset,
      remoteHost,
      remotePortBase: remote + options.portOffset,
      trials: options.trials,
      connectTimeoutMs: options.connectTimeoutMs,
      startDelayMs: role === 'server' ? options.bStartDelayMs : 0,
    });
  // Plain masquerade keeps the source port, so each side's public port is its local port.
  const peerA = a.spawnNode(PEER, [plan('client', PORT_A, natB.address, PORT_B)]);
  const peerB = b.spawnNode(PEER, [plan('server', PORT_B, natA.address, PORT_A)]);
  const budget = options.trials * (options.connectTimeoutMs + 6_000) + 10_000;
  await Promise.all([
    peerA.waitForOutput('DONE', { timeoutMs: budget }),
    peerB.waitForOutput('DONE', { timeoutMs: budget }),
  ]);
  if (process.env.ANTT_LAB_VERBOSE) console.log(peerA.stdout, peerB.stdout);
  return { a: parse(peerA.stdout), b: parse(peerB.stdout) };
}

function parse(stdout: string): Trial[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('TRIAL '))
    .map((line) => {
      const [, index, outcome, code] = line.split(' ');
      return {
        index: Number(index),
        ok: outcome === 'ok',
        code: outcome === 'ok' ? undefined : code,
        text: line,
      };
    });
}

describeLab('@antt/tcp through real NATs (namespace lab)', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await createLab({ name: 'tcp' });
  }, 30_000);

  afterAll(() => lab?.destroy(), 30_000);

  it(`opens ${TRIALS} of ${TRIALS} connections across two endpoint-independent NATs that drop unsolicited packets`, {
    timeout: 150_000,
  }, async () => {
    const natA = await lab.addRouter('dropA', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const natB = await lab.addRouter('dropB', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const a = await lab.addHost('a', { behind: natA });
    const b = await lab.addHost('b', { behind: natB });
    const result = await runPeers(a, natA, b, natB, {
      trials: TRIALS,
      connectTimeoutMs: 10_000,
      portOffset: 0,
    });
    const failures = [...result.a, ...result.b].filter((t) => !t.ok).map((t) => t.text);
    expect(failures).toEqual([]);
    expect(result.a.filter((t) => t.ok)).toHaveLength(TRIALS);
    expect(result.b.filter((t) => t.ok)).toHaveLength(TRIALS);
  });

  it('connects two hosts without NAT when one starts a second later (a LAN)', {
    timeout: 60_000,
  }, async () => {
    const a = await lab.addPublicHost('lanA');
    const b = await lab.addPublicHost('lanB');
    const result = await runPeers(a, a, b, b, {
      trials: 3,
      connectTimeoutMs: 5_000,
      portOffset: 800,
      bStartDelayMs: 1_000,
    });
    const failures = [...result.a, ...result.b].filter((t) => !t.ok).map((t) => t.text);
    expect(failures).toEqual([]);
    expect(result.a).toHaveLength(3);
    // The early side was refused at least once and got in through its listen window or its next dial.
    expect(result.a[0]!.text).not.toMatch(/attempts=1$/);
  });

  it('names the cause when both routers answer unsolicited SYNs with resets', {
    timeout: 60_000,
  }, async () => {
    const natA = await lab.addRouter('rstA', { mapping: 'endpoint-independent', unsolicited: 'reset' });
    const natB = await lab.addRouter('rstB', { mapping: 'endpoint-independent', unsolicited: 'reset' });
    const a = await lab.addHost('c', { behind: natA });
    const b = await lab.addHost('d', { behind: natB });
    const result = await runPeers(a, natA, b, natB, { trials: 1, connectTimeoutMs: 3_000, portOffset: 500 });
    for (const trial of [...result.a, ...result.b]) {
      expect(trial.ok, trial.text).toBe(false);
      expect(trial.code, trial.text).toBe(ErrorCode.REFUSED);
      expect(trial.text).toMatch(
        /every attempt \(\d+ attempts in [\d.]+ s\) was refused with a TCP reset: the peer is not running, or a router between you answers unsolicited SYNs with resets/,
      );
    }
    expect(result.a).toHaveLength(1);
    expect(result.b).toHaveLength(1);
  });
});
