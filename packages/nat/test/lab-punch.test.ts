import {
  createLab,
  describeLab,
  type Lab,
  type LabHost,
  type LabNode,
  type LabProcess,
} from '@antt/test-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectTransfer, MATRIX_HEADER, matrixLine, type OutcomePair, readOutcomes } from './lab-outcomes.js';

const RENDEZVOUS_SCRIPT = new URL('./fixtures/lab-rendezvous.ts', import.meta.url);
const PEER_SCRIPT = new URL('./fixtures/lab-peer.ts', import.meta.url);
/** Workspace packages resolve to their TypeScript sources, as in Vitest. */
const ENV = { NODE_OPTIONS: '--conditions=source' };

const matrix: string[] = [];
const RELAY_RATE = 100_000_000;

describeLab('UDP hole punching through the rendezvous server (namespace lab)', () => {
  let lab: Lab;
  let rendezvous: string;
  let server: LabProcess;

  beforeAll(async () => {
    lab = await createLab({ name: 'punch' });
    const rv = await lab.addPublicHost('rv');
    // A relay cap well above what the lab carries, so the relayed goodput is the relay's own.
    server = rv.spawnNode(RENDEZVOUS_SCRIPT, [String(RELAY_RATE)], { env: ENV, timeoutMs: 170_000 });
    await server.waitForOutput('LISTENING', { timeoutMs: 20_000 });
    rendezvous = `${rv.address}:3478`;
  }, 60_000);

  afterAll(async () => {
    if (matrix.length > 0) {
      console.log([MATRIX_HEADER, ...matrix].join('\n'));
    }
    await lab?.destroy();
  }, 30_000);

  async function meet(
    label: string,
    a: LabHost,
    b: LabHost,
    name: string,
    punchTimeoutMs = 5000,
    mode: 'auto' | 'force-relay' = 'auto',
  ): Promise<OutcomePair> {
    const run = (host: LabNode, role: string) =>
      host.spawnNode(PEER_SCRIPT, [rendezvous, name, role, String(punchTimeoutMs), mode], {
        env: ENV,
        timeoutMs: punchTimeoutMs + 40_000,
      });
    const children = [run(a, 'send'), run(b, 'receive')];
    const outcomes = await readOutcomes(children);
    matrix.push(matrixLine(label, 'udp', outcomes));
    console.log(`--- ${label}\n${JSON.stringify(outcomes, null, 1)}`);
    return outcomes;
  }

  it('(a) two hosts behind two endpoint-independent dropping NATs connect directly', async () => {
    const natA = await lab.addRouter('eimA', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const natB = await lab.addRouter('eimB', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const a = await lab.addHost('a', { behind: natA });
    const b = await lab.addHost('b', { behind: natB });
    const outcomes = await meet('EIM NAT <-> EIM NAT', a, b, 'meet-a');
    expectTransfer(outcomes);
    expect(outcomes[0].path).toMatchObject({
      kind: 'direct',
      candidate: 'public',
      remote: { host: natB.publicAddress },
    });
    expect(outcomes[1].path).toMatchObject({
      kind: 'direct',
      candidate: 'public',
      remote: { host: natA.publicAddress },
    });
  }, 90_000);

  it('(b) one side on a public address', async () => {
    const nat = await lab.addRouter('eimC', { mapping: 'endpoint-independent' });
    const c = await lab.addHost('c', { behind: nat });
    const p = await lab.addPublicHost('p');
    const outcomes = await meet('EIM NAT <-> public host', c, p, 'meet-b');
    expectTransfer(outcomes);
    expect(outcomes[0].path).toMatchObject({
      kind: 'direct',
      candidate: 'public',
      remote: { host: p.address },
    });
    expect(outcomes[1].path).toMatchObject({
      kind: 'direct',
      candidate: 'public',
      remote: { host: nat.publicAddress },
    });
  }, 90_000);

  it('(c) both behind one NAT: the LAN candidates win', async () => {
    const nat = await lab.addRouter('shared', { mapping: 'endpoint-independent' });
    const d = await lab.addHost('d', { behind: nat });
    const e = await lab.addHost('e', { behind: nat });
    const outcomes = await meet('same NAT (LAN)', d, e, 'meet-c');
    expectTransfer(outcomes);
    expect(outcomes[0].path).toMatchObject({ kind: 'direct', candidate: 'lan', remote: { host: e.address } });
    expect(outcomes[1].path).toMatchObject({ kind: 'direct', candidate: 'lan', remote: { host: d.address } });
  }, 90_000);

  it('(d) endpoint-dependent x endpoint-dependent: punching times out, the relay carries it end to end', async () => {
    const natF = await lab.addRouter('edmF', { mapping: 'endpoint-dependent' });
    const natG = await lab.addRouter('edmG', { mapping: 'endpoint-dependent' });
    const f = await lab.addHost('f', { behind: natF });
    const g = await lab.addHost('g', { behind: natG });
    const outcomes = await meet('EDM NAT <-> EDM NAT', f, g, 'meet-d', 3000);
    expectTransfer(outcomes);
    const [pf, pg] = outcomes;
    for (const outcome of [pf, pg]) {
      expect(outcome.path).toMatchObject({
        kind: 'relayed',
        candidate: 'relay',
        relay: { host: rendezvous.split(':')[0], port: 3478 },
        remote: { host: rendezvous.split(':')[0], port: 3478 },
        relayRateBytesPerSec: RELAY_RATE,
      });
      if (outcome.path?.kind !== 'relayed') throw new Error('unreachable');
      expect(outcome.path.reason).toMatch(/^punching timed out after [\d.]+ s: \d+ probes to /);
      expect(outcome.path.stages.relayMs).toBeGreaterThanOrEqual(0);
    }
    if (pf.path?.kind !== 'relayed' || pg.path?.kind !== 'relayed') throw new Error('unreachable');
    // Each side was relayed to the very mapping the server saw the other register from.
    expect(pf.path.peerObserved).toMatchObject({ host: natG.publicAddress });
    expect(pg.path.peerObserved).toMatchObject({ host: natF.publicAddress });
    expect(pf.path.reason).toContain(`${natG.publicAddress}:`);
    expect(pf.path.reason).toContain(`${g.address}:`);
  }, 90_000);

  it('(e) the pair of (a) forced through the relay: relayed goodput next to direct on one topology', async () => {
    const natA = await lab.addRouter('eimH', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const natB = await lab.addRouter('eimI', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const a = await lab.addHost('h', { behind: natA });
    const b = await lab.addHost('i', { behind: natB });
    const outcomes = await meet('EIM NAT <-> EIM NAT, forceRelay', a, b, 'meet-e', 5000, 'force-relay');
    expectTransfer(outcomes);
    for (const outcome of outcomes) {
      expect(outcome.path).toMatchObject({ kind: 'relayed', reason: 'forceRelay', tried: [] });
    }
    expect(outcomes[0].path).toMatchObject({ peerObserved: { host: natB.publicAddress } });
  }, 90_000);
});
