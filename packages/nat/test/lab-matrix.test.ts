/**
 * More rows of the lab matrix (issue 7), beside test/lab-punch.test.ts: routers that answer unsolicited
 * inbound (TCP reset, ICMP port unreachable) on both sides, and routers that forget UDP mappings after
 * 30 s while the connection sits idle for 60 s, and routers that delay every packet (50 ms each way).
 * The rows run concurrently, so the file takes about as long as its longest row.
 */
import {
  createLab,
  describeLab,
  type Lab,
  type LabHost,
  type LabNode,
  type LabProcess,
  type LabRouter,
} from '@antt/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTransfer, MATRIX_HEADER, matrixLine, type OutcomePair, readOutcomes } from './lab-outcomes.js';

const RENDEZVOUS_SCRIPT = new URL('./fixtures/lab-rendezvous.ts', import.meta.url);
const PEER_SCRIPT = new URL('./fixtures/lab-peer.ts', import.meta.url);
/** Workspace packages resolve to their TypeScript sources, as in Vitest. */
const ENV = { NODE_OPTIONS: '--conditions=source' };
const PUNCH_TIMEOUT_MS = 5_000;
/** Issue 7: "a router with a 30 s UDP timeout during a 60 s idle period". */
const ROUTER_UDP_TIMEOUT_SEC = 30;
const IDLE_MS = 62_000;
/** One-way delay per router for the delayed row (test-kit's TUN hop). */
const ROUTER_DELAY_MS = 50;
/** How often the test reads the routers' conntrack tables during the idle period. */
const CONNTRACK_POLL_MS = 5_000;
const MAX_CONNTRACK_POLLS = Math.ceil(IDLE_MS / CONNTRACK_POLL_MS) + 2;

/** One UDP conntrack entry as /proc/net/nf_conntrack shows it (the original direction and the reply). */
interface ConntrackEntry {
  timeoutSec: number;
  source: string;
  destination: string;
  sourcePort: number;
  /** The reply's destination port: the outside port the NAT mapped the flow to. */
  mappedPort: number;
}

function parseConntrack(text: string): ConntrackEntry[] {
  const entries: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[2] !== 'udp') continue;
    const values = (key: string) =>
      fields.filter((f) => f.startsWith(`${key}=`)).map((f) => f.slice(key.length + 1));
    const [src, replySrc] = values('src');
    const [dst] = values('dst');
    const [sport, replySport] = values('sport');
    const [, replyDport] = values('dport');
    if (!src || !dst || !sport || !replySrc || !replySport || !replyDport) continue;
    entries.push({
      timeoutSec: Number(fields[4]),
      source: src,
      destination: dst,
      sourcePort: Number(sport),
      mappedPort: Number(replyDport),
    });
  }
  return entries;
}

const matrix: string[] = [];

describeLab('lab matrix: resetting routers, 30 s UDP timeouts, delay (namespace lab)', () => {
  let lab: Lab;
  let rendezvous: string;
  let server: LabProcess;

  beforeAll(async () => {
    lab = await createLab({ name: 'matrix' });
    const rv = await lab.addPublicHost('rv');
    server = rv.spawnNode(RENDEZVOUS_SCRIPT, [], { env: ENV, timeoutMs: 170_000 });
    await server.waitForOutput('LISTENING', { timeoutMs: 20_000 });
    rendezvous = `${rv.address}:3478`;
  }, 60_000);

  afterAll(async () => {
    if (matrix.length > 0) {
      console.log([MATRIX_HEADER, ...matrix].join('\n'));
    }
    await lab?.destroy();
  }, 30_000);

  function start(a: LabNode, b: LabNode, name: string, idleMs = 0): [LabProcess, LabProcess] {
    const run = (host: LabNode, role: string) =>
      host.spawnNode(
        PEER_SCRIPT,
        [rendezvous, name, role, String(PUNCH_TIMEOUT_MS), 'auto', String(idleMs)],
        {
          env: ENV,
          timeoutMs: PUNCH_TIMEOUT_MS + idleMs + 40_000,
        },
      );
    return [run(a, 'send'), run(b, 'receive')];
  }

  async function finish(label: string, children: LabProcess[]): Promise<OutcomePair> {
    const outcomes = await readOutcomes(children);
    matrix.push(matrixLine(label, 'udp', outcomes));
    console.log(`--- ${label}\n${JSON.stringify(outcomes, null, 1)}`);
    return outcomes;
  }

  function expectDirectTransfer([a, b]: OutcomePair, natA: LabRouter, natB: LabRouter): void {
    expectTransfer([a, b]);
    expect(a.path).toMatchObject({
      kind: 'direct',
      candidate: 'public',
      remote: { host: natB.publicAddress },
    });
    expect(b.path).toMatchObject({
      kind: 'direct',
      candidate: 'public',
      remote: { host: natA.publicAddress },
    });
  }

  /** The conntrack entry of `host`'s flow toward `peer` (an address), in its router, if there is one. */
  async function mapping(
    router: LabRouter,
    host: LabHost,
    peer: string,
  ): Promise<ConntrackEntry | undefined> {
    const { stdout } = await router.run(['cat', '/proc/net/nf_conntrack']);
    return parseConntrack(stdout).find((e) => e.source === host.address && e.destination === peer);
  }

  /** The router's count of ICMP destination-unreachable messages sent (its namespace's /proc/net/snmp). */
  async function icmpUnreachablesSent(router: LabRouter): Promise<number> {
    const lines = (await router.run(['cat', '/proc/net/snmp'])).stdout
      .split('\n')
      .filter((l) => l.startsWith('Icmp: '));
    const [names, values] = lines.map((l) => l.split(/\s+/));
    return Number(values![names!.indexOf('OutDestUnreachs')]);
  }

  // Both rows start together; Vitest runs `concurrent` tests of one file side by side.
  describe.concurrent('rows', () => {
    it('routers that reset unsolicited inbound (ICMP port unreachable) on both sides: direct', async () => {
      const natA = await lab.addRouter('rstA', { mapping: 'endpoint-independent', unsolicited: 'reset' });
      const natB = await lab.addRouter('rstB', { mapping: 'endpoint-independent', unsolicited: 'reset' });
      const a = await lab.addHost('ra', { behind: natA });
      const b = await lab.addHost('rb', { behind: natB });
      const outcomes = await finish('EIM reset <-> EIM reset', start(a, b, 'meet-reset'));
      expectDirectTransfer(outcomes, natA, natB);
      const unreachables = [await icmpUnreachablesSent(natA), await icmpUnreachablesSent(natB)];
      console.log(
        `ICMP destination unreachable sent by the routers during the row: ${unreachables.join(', ')}`,
      );
    }, 90_000);

    it(`routers that delay every packet ${ROUTER_DELAY_MS} ms (${4 * ROUTER_DELAY_MS} ms round trip between the peers): direct`, async () => {
      // Longer than the punch's 50 ms repeat intervals: the NOMINATE's ACK comes back after newer
      // NOMINATEs left, and both sides must still settle on the same path.
      const natA = await lab.addRouter('dlA', { delayMs: ROUTER_DELAY_MS });
      const natB = await lab.addRouter('dlB', { delayMs: ROUTER_DELAY_MS });
      const a = await lab.addHost('da', { behind: natA });
      const b = await lab.addHost('db', { behind: natB });
      const outcomes = await finish(
        `EIM <-> EIM, ${ROUTER_DELAY_MS} ms per router`,
        start(a, b, 'meet-delay'),
      );
      expectDirectTransfer(outcomes, natA, natB);
    }, 90_000);

    it(
      `routers with a ${ROUTER_UDP_TIMEOUT_SEC} s UDP timeout, ${IDLE_MS / 1000} s idle, then 1 MiB on the same connection`,
      async () => {
        const options = { mapping: 'endpoint-independent', udpTimeoutSec: ROUTER_UDP_TIMEOUT_SEC } as const;
        const natA = await lab.addRouter('toA', options);
        const natB = await lab.addRouter('toB', options);
        const a = await lab.addHost('ta', { behind: natA });
        const b = await lab.addHost('tb', { behind: natB });
        const children = start(a, b, 'meet-idle', IDLE_MS);
        const [sender] = children;

        // While the connection idles, both routers must keep its mapping: same outside port at every look.
        await sender.waitForOutput(/^(PATH|ERROR) /, { timeoutMs: PUNCH_TIMEOUT_MS + 30_000 });
        const seen: Array<[ConntrackEntry | undefined, ConntrackEntry | undefined]> = [];
        for (
          let poll = 0;
          poll < MAX_CONNTRACK_POLLS && !sender.stdout.includes('IDLE ') && !sender.exit;
          poll++
        ) {
          seen.push([await mapping(natA, a, natB.publicAddress), await mapping(natB, b, natA.publicAddress)]);
          await new Promise((resolve) => setTimeout(resolve, CONNTRACK_POLL_MS));
        }
        const outcomes = await finish(
          `EIM ${ROUTER_UDP_TIMEOUT_SEC} s UDP timeout, ${IDLE_MS / 1000} s idle`,
          children,
        );
        expectDirectTransfer(outcomes, natA, natB);
        expect(outcomes[0].idleMs).toBe(IDLE_MS);
        console.log(
          `conntrack during the idle period (timeout s, outside port), A | B:\n${seen
            .map(([ea, eb]) => `${ea?.timeoutSec} ${ea?.mappedPort} | ${eb?.timeoutSec} ${eb?.mappedPort}`)
            .join('\n')}`,
        );
        // The idle period spans more than two router timeouts' worth of polls.
        expect(seen.length).toBeGreaterThanOrEqual(Math.floor(IDLE_MS / CONNTRACK_POLL_MS) - 2);
        for (const [entryA, entryB] of seen) {
          expect(entryA?.mappedPort).toBe(seen[0]![0]?.mappedPort);
          expect(entryB?.mappedPort).toBe(seen[0]![1]?.mappedPort);
          expect(entryA?.timeoutSec).toBeLessThanOrEqual(ROUTER_UDP_TIMEOUT_SEC);
        }
        expect(seen[0]![0]).toBeDefined();
        expect(seen[0]![1]).toBeDefined();
      },
      IDLE_MS + 60_000,
    );
  });
});
