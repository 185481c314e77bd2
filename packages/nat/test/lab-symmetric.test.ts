/**
 * Endpoint-dependent ("symmetric") NATs in the namespace lab: the rendezvous server's two ports let
 * each peer see its NAT's mapping behaviour; endpoint-independent × endpoint-dependent then meets
 * directly by the birthday technique (Linux `masquerade fully-random` allocates at random, so the
 * sequential prediction is covered by unit tests), and endpoint-dependent × endpoint-dependent still
 * goes through the relay.
 */
import { createLab, describeLab, type Lab, type LabHost, type LabProcess } from '@antt/test-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BIRTHDAY_PROBES, BIRTHDAY_SOCKETS } from '../src/punch/birthday.js';
import { birthdayMissProbability } from '../src/punch/port-prediction.js';
import { expectTransfer, MATRIX_HEADER, matrixLine, readOutcomes } from './lab-outcomes.js';

const RENDEZVOUS_SCRIPT = new URL('./fixtures/lab-rendezvous.ts', import.meta.url);
const PEER_SCRIPT = new URL('./fixtures/lab-peer.ts', import.meta.url);
const ENV = { NODE_OPTIONS: '--conditions=source' };
/** Runs of the probabilistic EIM × EDM row; each misses with birthdayMissProbability() (about 5e-8). */
const EIM_EDM_RUNS = 3;

const matrix: string[] = [];

describeLab('endpoint-dependent NATs: mapping discovery, birthday punching (namespace lab)', () => {
  let lab: Lab;
  let rendezvous: string;
  let server: LabProcess;

  beforeAll(async () => {
    lab = await createLab({ name: 'symmetric' });
    const rv = await lab.addPublicHost('rv');
    server = rv.spawnNode(RENDEZVOUS_SCRIPT, [], { env: ENV, timeoutMs: 120_000 });
    await server.waitForOutput('LISTENING', { timeoutMs: 20_000 });
    rendezvous = `${rv.address}:3478`;
  }, 60_000);

  afterAll(async () => {
    const miss = birthdayMissProbability(BIRTHDAY_SOCKETS, BIRTHDAY_PROBES);
    console.log(
      [
        `birthday budget: ${BIRTHDAY_SOCKETS} sockets, ${BIRTHDAY_PROBES} probes; miss probability per run ${miss.toExponential(1)}`,
        MATRIX_HEADER,
        ...matrix,
      ].join('\n'),
    );
    await lab?.destroy();
  }, 30_000);

  async function meet(label: string, a: LabHost, b: LabHost, name: string, punchMs: number) {
    const run = (host: LabHost, role: string) =>
      host.spawnNode(PEER_SCRIPT, [rendezvous, name, role, String(punchMs), 'auto'], {
        env: ENV,
        timeoutMs: punchMs + 30_000,
      });
    const children = [run(a, 'send'), run(b, 'receive')];
    const outcomes = await readOutcomes(children);
    matrix.push(matrixLine(label, 'udp', outcomes));
    console.log(`--- ${label}\n${JSON.stringify(outcomes, null, 1)}`);
    expectTransfer(outcomes);
    return outcomes;
  }

  it(`endpoint-independent x endpoint-dependent connects directly (birthday), ${EIM_EDM_RUNS} times`, async () => {
    const eim = await lab.addRouter('eim', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    const edm = await lab.addRouter('edm', { mapping: 'endpoint-dependent' });
    const a = await lab.addHost('a', { behind: eim });
    const b = await lab.addHost('b', { behind: edm });
    for (let run = 0; run < EIM_EDM_RUNS; run++) {
      // Alternate which side sends and which side the server makes controlling.
      const [first, second] = run % 2 === 0 ? [a, b] : [b, a];
      const outcomes = await meet(
        `EIM NAT <-> EDM NAT (run ${run + 1})`,
        first,
        second,
        `meet-birthday-${run}`,
        8000,
      );
      const onA = first === a ? outcomes[0] : outcomes[1];
      const onB = first === a ? outcomes[1] : outcomes[0];
      // Direct is the promise. Which of B's mappings A's spray met is not: in 1 run of about 30 (CI,
      // 2026-11-24) A labelled the winning address 'public' (B's registered mapping) while B said
      // 'birthday'; why the EDM router gave that flow the registered port is not understood yet.
      expect(onA.path).toMatchObject({
        kind: 'direct',
        remote: { host: edm.publicAddress },
        plan: {
          technique: 'birthday',
          role: 'prober',
          self: { kind: 'endpoint-independent' },
          peer: { kind: 'endpoint-dependent', allocation: 'random' },
        },
      });
      expect(onB.path).toMatchObject({
        kind: 'direct',
        candidate: 'birthday',
        remote: { host: eim.publicAddress },
        plan: { technique: 'birthday', role: 'opener', self: { kind: 'endpoint-dependent' } },
      });
      // B's connection rides a birthday socket, not the one it registered from.
      if (onB.path?.kind !== 'direct' || onA.path?.kind !== 'direct') throw new Error('unreachable');
      expect(onB.path.local.port).not.toBe(0);
      expect(['birthday', 'public']).toContain(onA.path.candidate);
      if (onA.path.candidate === 'birthday') {
        expect(onA.path.remote.port).not.toBe(onA.path.tried.find((c) => c.kind === 'public')?.address.port);
      } else {
        console.log(
          `run ${run + 1}: A's spray met B's registered mapping (${JSON.stringify(onA.path.remote)})`,
        );
      }
    }
  }, 90_000);

  it('endpoint-dependent x endpoint-dependent: no technique applies, the relay carries it', async () => {
    const f = await lab.addHost('f', {
      behind: await lab.addRouter('edmF', { mapping: 'endpoint-dependent' }),
    });
    const g = await lab.addHost('g', {
      behind: await lab.addRouter('edmG', { mapping: 'endpoint-dependent' }),
    });
    // A long punch timeout: both sides see two endpoint-dependent NATs and give up after 1.5 s anyway.
    const outcomes = await meet('EDM NAT <-> EDM NAT', f, g, 'meet-edm-edm', 8000);
    for (const outcome of outcomes) {
      expect(outcome.path).toMatchObject({
        kind: 'relayed',
        plan: {
          technique: 'standard',
          self: { kind: 'endpoint-dependent' },
          peer: { kind: 'endpoint-dependent' },
        },
      });
      if (outcome.path?.kind !== 'relayed') throw new Error('unreachable');
      expect(outcome.path.reason).toMatch(
        /^punching timed out after [\d.]+ s: .*endpoint-dependent \(random\): only a LAN path could work, given 1\.5 s/,
      );
    }
  }, 60_000);
});
