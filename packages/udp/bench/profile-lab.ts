/**
 * Measuring aid: `tsx bench/profile-lab.ts <kind> <MiB> [--loopback] [--cap] [-- extra node flags]` runs
 * one Antt/UDP (or raw/udx) transfer across the namespace lab (or loopback) with extra node flags for
 * both peers (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), and prints both peers' JSON results.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createLab } from '@antt/test-kit';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const dash = args.indexOf('--');
const nodeFlags = dash >= 0 ? args.slice(dash + 1) : [];
const [kind = 'antt', mib = '256'] = args;
const total = Number(mib) * 2 ** 20;
const loopback = args.includes('--loopback');

function peer(netns: string | undefined, peerArgs: string[], label: string) {
  const command = [
    process.execPath,
    '--conditions=source',
    '--import',
    'tsx',
    ...nodeFlags.map((f) => f.replace('%s', label)),
    join(here, process.env.PEER ?? 'peer.ts'),
    ...peerArgs,
  ];
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, ...command], {
        cwd: join(here, '..'),
        stdio: ['pipe', 'pipe', 'inherit'],
      })
    : spawn(command[0]!, command.slice(1), { cwd: join(here, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
  return {
    next,
    write: (l: string) => child.stdin!.write(`${l}\n`),
    done: new Promise((r) => child.once('exit', r)),
  };
}

async function run(rNs: string | undefined, sNs: string | undefined, target: string, seenAs: string) {
  const receiver = peer(rNs, ['receive', kind, String(total), rNs ? '0.0.0.0' : '127.0.0.1', seenAs], 'recv');
  const ready = await receiver.next();
  const sender = peer(sNs, ['send', kind, String(total), '0.0.0.0', target, String(ready.port)], 'send');
  const sReady = await sender.next();
  if (kind === 'udx') receiver.write(String(sReady.port));
  const [r, s] = await Promise.all([receiver.next(), sender.next()]);
  await Promise.all([receiver.done, sender.done]);
  const pick = (d: Record<string, unknown>) => ({
    cpu: d.cpuSeconds,
    s: d.seconds,
    rss: Math.round(d.peakRssMb as number),
    sent: d.packetsSent,
    retx: d.packetsRetransmitted,
  });
  console.log(
    JSON.stringify({
      kind,
      MiBps: +((r.bytes as number) / 2 ** 20 / (r.seconds as number)).toFixed(1),
      send: pick(s),
      recv: pick(r),
    }),
  );
}

if (loopback) await run(undefined, undefined, '127.0.0.1', '127.0.0.1');
else {
  const lab = await createLab({ name: 'udp_prof' });
  try {
    const router = await lab.addRouter('r1');
    const sender = await lab.addHost('snd', { behind: router });
    const receiver = await lab.addPublicHost('rcv');
    if (args.includes('--cap')) {
      await lab.setRateLimit(sender, { bytesPerSecond: 20_000_000, direction: 'up' });
      await lab.setLoss(router, 3);
    }
    const reps = Number(process.env.REPS ?? 1);
    for (let i = 0; i < reps; i++)
      await run(receiver.namespace, sender.namespace, receiver.address, router.publicAddress);
  } finally {
    await lab.destroy();
  }
}
