/**
 * `pnpm bench` for @antt/nat: time to connect through the rendezvous server, per lab matrix pair, and
 * goodput through the relay next to the direct path on the same topology. Needs the namespace lab of
 * @antt/test-kit (root on Linux); without it the bench says why and exits 0.
 *
 * Flags: `--only=eim,public,lan,edm,relay,delay,goodput` (default: all), `--runs=N` (default 20), `--bytes=N` for the goodput rows (default 16 MiB), `--delay=MS` one-way
 * delay per router for the round-trip rows (default 50).
 *
 * Each run starts both peers' connect() at the same moment (each peer is one long-lived process that
 * takes commands on stdin, so process start-up is not counted) under a fresh meeting name, so every run
 * registers, exchanges, punches, stretches the passphrase (scrypt) and handshakes anew. Reported:
 * - end to end: from the moment both peers called connect() to the moment both had an open connection;
 * - after registration: from the moment the later peer was registered to the moment both were open. On
 *   the delayed topology it is also given in round trips between the two peers (measured in the same
 *   run, UDP echoes to the rendezvous host), next to the issue's targets: 3 round trips, and 1 s end to
 *   end in the lab.
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { derivePassphraseKey } from '@antt/secure';
import { createLab, type Lab, type LabNode, type LabProcess, labAvailability } from '@antt/test-kit';

const RENDEZVOUS_SCRIPT = new URL('../test/fixtures/lab-rendezvous.ts', import.meta.url);
const PEER_SCRIPT = new URL('./peer.ts', import.meta.url);
/** Workspace packages resolve to their TypeScript sources. */
const ENV = { NODE_OPTIONS: '--conditions=source' };
const MiB = 2 ** 20;
/** The relay's rate cap in the lab, well above what it carries, so the goodput is the relay's own. */
const RELAY_RATE_BYTES_PER_SEC = 1_000_000_000;
/**
 * Requests per second (and burst) the server takes from one source IP. Back-to-back runs send more than
 * the default 20 once runs take under half a second: throttled REGISTERs then wait for their
 * retransmission, and the table would show the rate limiter instead of connect() (measured 2026-11-24,
 * undelayed EIM × EIM, 30 runs: end to end median 318 ms with the default, 135 ms with this).
 */
const REQUEST_RATE_PER_SEC = 10_000;
const ECHO_PORT = 7000;
const ECHOES = 10;
const RUN_TIMEOUT_MS = 30_000;
const TARGET_ROUND_TRIPS = 3;
const TARGET_END_TO_END_MS = 1_000;

const flag = (name: string, fallback: number) => {
  const value = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  return value === undefined ? fallback : Number(value);
};
const RUNS = flag('runs', 20);
const GOODPUT_BYTES = flag('bytes', 16 * MiB);
const DELAY_MS = flag('delay', 50);
const ONLY = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');

interface Timing {
  startedAt: number;
  registeredAt: number;
  openAt: number;
  kind: 'direct' | 'relayed';
  candidate: string;
  stages: Record<string, number>;
  sha?: string;
  goodputBytes?: number;
  goodputMs?: number;
}

interface Peer {
  process: LabProcess;
  results: string[];
  waiters: Array<(line: string) => void>;
}

function startPeer(host: LabNode, rendezvous: string, role: 'send' | 'receive'): Peer {
  const child = host.spawnNode(PEER_SCRIPT, [rendezvous, role], { env: ENV });
  const peer: Peer = { process: child, results: [], waiters: [] };
  child.onLine((line, stream) => {
    if (stream !== 'stdout' || !/^(RESULT|ERROR) /.test(line)) return;
    const waiter = peer.waiters.shift();
    if (waiter) waiter(line);
    else peer.results.push(line);
  });
  return peer;
}

function nextResult(peer: Peer): Promise<Timing> {
  const parse = (line: string): Timing => {
    if (line.startsWith('ERROR ')) throw new Error(`peer failed: ${line.slice(6)}`);
    return JSON.parse(line.slice(7)) as Timing;
  };
  const queued = peer.results.shift();
  if (queued) return Promise.resolve(queued).then(parse);
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      peer.waiters.splice(peer.waiters.indexOf(done), 1);
      reject(new Error(`no result within ${RUN_TIMEOUT_MS} ms; stderr: ${peer.process.stderr.slice(-1000)}`));
    }, RUN_TIMEOUT_MS);
    const done = (line: string) => {
      clearTimeout(timer);
      resolve(line);
    };
    peer.waiters.push(done);
  }).then(parse);
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface PairRow {
  label: string;
  path: string;
  endToEnd: number[];
  afterRegistration: number[];
  stages: Record<string, number[]>;
  roundTripMs?: number;
  failures: string[];
}

interface Topology {
  /** For `--only=key,key`. */
  key: string;
  label: string;
  build(lab: Lab): Promise<[LabNode, LabNode]>;
  mode?: 'auto' | 'force-relay';
  /** Measure the round trip between the peers (for rows whose routers delay). */
  roundTrips?: boolean;
}

let nodeCounter = 0;
const fresh = (prefix: string) => `${prefix}${nodeCounter++}`;

const eimPair =
  (delayMs = 0) =>
  async (lab: Lab): Promise<[LabNode, LabNode]> => {
    const natA = await lab.addRouter(fresh('eA'), { delayMs });
    const natB = await lab.addRouter(fresh('eB'), { delayMs });
    return [await lab.addHost(fresh('a'), { behind: natA }), await lab.addHost(fresh('b'), { behind: natB })];
  };

const TOPOLOGIES: Topology[] = [
  { key: 'eim', label: 'EIM NAT <-> EIM NAT', build: eimPair() },
  {
    key: 'public',
    label: 'EIM NAT <-> public host',
    build: async (lab) => {
      const nat = await lab.addRouter(fresh('e'), {});
      return [await lab.addHost(fresh('a'), { behind: nat }), await lab.addPublicHost(fresh('p'))];
    },
  },
  {
    key: 'lan',
    label: 'same NAT (LAN)',
    build: async (lab) => {
      const nat = await lab.addRouter(fresh('s'), {});
      return [await lab.addHost(fresh('a'), { behind: nat }), await lab.addHost(fresh('b'), { behind: nat })];
    },
  },
  {
    key: 'edm',
    label: 'EDM NAT <-> EDM NAT (relayed)',
    build: async (lab) => {
      const natA = await lab.addRouter(fresh('dA'), { mapping: 'endpoint-dependent' });
      const natB = await lab.addRouter(fresh('dB'), { mapping: 'endpoint-dependent' });
      return [
        await lab.addHost(fresh('a'), { behind: natA }),
        await lab.addHost(fresh('b'), { behind: natB }),
      ];
    },
  },
  { key: 'relay', label: 'EIM NAT <-> EIM NAT, forceRelay', build: eimPair(), mode: 'force-relay' },
  {
    key: 'delay',
    label: `EIM <-> EIM, ${DELAY_MS} ms per router`,
    build: eimPair(DELAY_MS),
    roundTrips: true,
  },
];

/** The smallest of `ECHOES` UDP round trips from `host` to the echo server. */
async function echoRoundTrip(host: LabNode, server: string): Promise<number> {
  const script = `
const socket = require('node:dgram').createSocket('udp4');
const [host, port, count] = process.argv.slice(2);
const times = [];
let sentAt = 0;
setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 10000).unref();
const send = () => { sentAt = performance.now(); socket.send('echo', Number(port), host); };
socket.on('message', () => {
  times.push(performance.now() - sentAt);
  if (times.length < Number(count)) return send();
  console.log(Math.min(...times));
  process.exit(0);
});
socket.bind(0, send);`;
  const result = await host.run([
    process.execPath,
    '-e',
    script,
    '--',
    '[eval]',
    server,
    String(ECHO_PORT),
    String(ECHOES),
  ]);
  return Number(result.stdout.trim());
}

async function measurePair(
  lab: Lab,
  rendezvous: string,
  echoHost: string,
  topology: Topology,
): Promise<PairRow> {
  const [a, b] = await topology.build(lab);
  const row: PairRow = {
    label: topology.label,
    path: '-',
    endToEnd: [],
    afterRegistration: [],
    stages: {},
    failures: [],
  };
  if (topology.roundTrips) {
    // Peer to peer crosses both routers: the sum of each side's round trip to an undelayed public host.
    row.roundTripMs = (await echoRoundTrip(a, echoHost)) + (await echoRoundTrip(b, echoHost));
  }
  const peers = [startPeer(a, rendezvous, 'send'), startPeer(b, rendezvous, 'receive')];
  try {
    await Promise.all(peers.map((p) => p.process.waitForOutput('READY', { timeoutMs: 30_000 })));
    const mode = topology.mode ?? 'auto';
    for (let run = 0; run < RUNS; run++) {
      const name = `bench-${nodeCounter}-${run}`;
      for (const peer of peers) peer.process.write(`CONNECT ${name} ${mode}\n`);
      try {
        const [ta, tb] = await Promise.all(peers.map(nextResult));
        const bothOpen = Math.max(ta!.openAt, tb!.openAt);
        row.endToEnd.push(bothOpen - Math.max(ta!.startedAt, tb!.startedAt));
        row.afterRegistration.push(bothOpen - Math.max(ta!.registeredAt, tb!.registeredAt));
        row.path = ta!.kind === 'relayed' ? 'relayed' : `direct (${ta!.candidate})`;
        for (const [stage, ms] of Object.entries(ta!.stages)) {
          row.stages[stage] = [...(row.stages[stage] ?? []), ms];
        }
      } catch (error) {
        row.failures.push((error as Error).message);
      }
      process.stderr.write('.');
    }
    process.stderr.write(` ${topology.label}\n`);
  } finally {
    await Promise.all(peers.map((p) => p.process.stop()));
  }
  return row;
}

async function measureGoodput(
  lab: Lab,
  rendezvous: string,
  mode: 'auto' | 'force-relay',
): Promise<{ path: string; mbps: number }> {
  const [a, b] = await eimPair()(lab);
  const peers = [startPeer(a, rendezvous, 'send'), startPeer(b, rendezvous, 'receive')];
  try {
    await Promise.all(peers.map((p) => p.process.waitForOutput('READY', { timeoutMs: 30_000 })));
    for (const peer of peers) peer.process.write(`TRANSFER goodput-${mode} ${mode} ${GOODPUT_BYTES}\n`);
    const [sent, received] = await Promise.all(peers.map(nextResult));
    if (sent!.sha !== received!.sha) throw new Error(`SHA-256 differs: ${sent!.sha} vs ${received!.sha}`);
    const path = received!.kind === 'relayed' ? 'relayed' : `direct (${received!.candidate})`;
    return { path, mbps: (received!.goodputBytes! * 8) / (received!.goodputMs! * 1000) };
  } finally {
    await Promise.all(peers.map((p) => p.process.stop()));
  }
}

const ms = (v: number) => v.toFixed(0).padStart(6);

function printRows(rows: PairRow[]): void {
  console.log(
    `\ntime to connect, ${RUNS} runs per pair (ms; median / p95). e2e: both call connect() -> both open;` +
      ' after reg.: the later registration -> both open',
  );
  console.log(
    'pair                                | path            | e2e med |  p95 | after reg. med |  p95 | RTT ms | after reg. in RTT | stages med (register/exchange/punch/relay/handshake)',
  );
  for (const row of rows) {
    if (row.endToEnd.length === 0) {
      console.log(`${row.label.padEnd(35)} | failed: ${row.failures[0]}`);
      continue;
    }
    const inRtt = row.roundTripMs
      ? `${(percentile(row.afterRegistration, 50) / row.roundTripMs).toFixed(2)} / ${(percentile(row.afterRegistration, 95) / row.roundTripMs).toFixed(2)}`
      : '-';
    const stages = ['registerMs', 'exchangeMs', 'punchMs', 'relayMs', 'handshakeMs']
      .map((stage) => (row.stages[stage] ? percentile(row.stages[stage], 50).toFixed(0) : '-'))
      .join('/');
    console.log(
      `${row.label.padEnd(35)} | ${row.path.padEnd(15)} | ${ms(percentile(row.endToEnd, 50))}  |${ms(percentile(row.endToEnd, 95))} | ${ms(percentile(row.afterRegistration, 50)).padStart(14)} |${ms(percentile(row.afterRegistration, 95))} | ${row.roundTripMs ? ms(row.roundTripMs) : '     -'} | ${inRtt.padEnd(17)} | ${stages}${row.failures.length ? `  (${row.failures.length} failed: ${row.failures[0]})` : ''}`,
    );
  }
}

/** In round trips, each stage's median on the delayed row: where the time goes. */
function printRoundTripBreakdown(row: PairRow): void {
  const rtt = row.roundTripMs!;
  const parts = ['exchangeMs', 'punchMs', 'handshakeMs']
    .filter((stage) => row.stages[stage])
    .map((stage) => `${stage.replace('Ms', '')} ${(percentile(row.stages[stage]!, 50) / rtt).toFixed(2)}`);
  console.log(`  stages of "${row.label}" in round trips (median, sender side): ${parts.join(', ')}`);
}

function printVerdict(rows: PairRow[]): void {
  const eim = rows.find((r) => r.label === 'EIM NAT <-> EIM NAT');
  const delayed = rows.find((r) => r.roundTripMs !== undefined);
  console.log('\ntargets (issue 7):');
  if (eim && eim.endToEnd.length > 0) {
    const median = percentile(eim.endToEnd, 50);
    const p95 = percentile(eim.endToEnd, 95);
    console.log(
      `- under ${TARGET_END_TO_END_MS} ms end to end in the lab (EIM x EIM): median ${median.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms: ${p95 < TARGET_END_TO_END_MS ? 'met' : median < TARGET_END_TO_END_MS ? 'met at the median, not at p95' : 'NOT met'}`,
    );
  }
  if (delayed && delayed.afterRegistration.length > 0) {
    const rtts = percentile(delayed.afterRegistration, 50) / delayed.roundTripMs!;
    console.log(
      `- within ${TARGET_ROUND_TRIPS} round trips after both registered (EIM x EIM, ${DELAY_MS} ms per router, RTT ${delayed.roundTripMs!.toFixed(0)} ms): median ${rtts.toFixed(2)} RTT: ${rtts <= TARGET_ROUND_TRIPS ? 'met' : 'NOT met'}`,
    );
    printRoundTripBreakdown(delayed);
  }
}

async function main(): Promise<void> {
  const availability = await labAvailability();
  if (!availability.available) {
    console.log(`@antt/nat bench skipped: the namespace lab cannot run here (${availability.reason})`);
    return;
  }
  // References measured in this run: the machine's load, and what stretching a passphrase costs on it
  // (the one CPU-bound step of connect(), which the network stages overlap).
  const scryptStarted = performance.now();
  await derivePassphraseKey('reference', { context: randomUUID() });
  const scryptMs = performance.now() - scryptStarted;
  console.log(
    `reference: load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on this machine; scrypt of a passphrase (N=2^15, r=8) alone: ${scryptMs.toFixed(0)} ms`,
  );
  const lab = await createLab({ name: 'nat_bench' });
  try {
    const rv = await lab.addPublicHost('rv');
    const server = rv.spawnNode(
      RENDEZVOUS_SCRIPT,
      [String(RELAY_RATE_BYTES_PER_SEC), String(REQUEST_RATE_PER_SEC)],
      { env: ENV },
    );
    await server.waitForOutput('LISTENING', { timeoutMs: 30_000 });
    const rendezvous = `${rv.address}:3478`;
    const echo = await lab.addPublicHost('echo');
    const echoAgent = await echo.startAgent();
    await echoAgent.udpBind({ port: ECHO_PORT, reflect: true });

    const rows: PairRow[] = [];
    for (const topology of TOPOLOGIES.filter((t) => !ONLY || ONLY.includes(t.key)))
      rows.push(await measurePair(lab, rendezvous, echo.address, topology));
    printRows(rows);

    if (ONLY && !ONLY.includes('goodput')) return printVerdict(rows);
    const direct = await measureGoodput(lab, rendezvous, 'auto');
    const relayed = await measureGoodput(lab, rendezvous, 'force-relay');
    console.log(
      `\ngoodput of ${GOODPUT_BYTES / MiB} MiB, EIM x EIM (one topology, no delay), receiver side:`,
    );
    console.log(`- ${direct.path.padEnd(16)} ${direct.mbps.toFixed(1)} Mbit/s`);
    console.log(
      `- ${relayed.path.padEnd(16)} ${relayed.mbps.toFixed(1)} Mbit/s (${((relayed.mbps / direct.mbps) * 100).toFixed(0)} % of direct)`,
    );
    printVerdict(rows);
  } finally {
    await lab.destroy();
  }
}

await main();
