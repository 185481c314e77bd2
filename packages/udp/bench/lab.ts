/**
 * The benchmark's namespace-lab rows: a sender behind a router (1500-byte MTU veths, nftables NAT) and a
 * receiver on the lab's "internet"; then two hosts behind two endpoint-independent NATs that drop
 * unsolicited packets, where encrypted Antt/UDP (both sides connect: hole punching) runs against
 * hyperdht's encrypted stream (its testnet on a third, public host; hyperdht punches through the NATs
 * itself); then the first path under an htb/tbf rate cap with 0%, 1% and 3% random loss at the router.
 * They need root and the test kit's lab; otherwise they are skipped and the table says why.
 * `--two-nats-only` runs only the two-NAT rows.
 */
import { createLab, labAvailability } from '@antt/test-kit';
import type { Kind, Result, TransferOptions } from './index.js';
import { next, peer } from './spawn-peer.js';

const MiB = 2 ** 20;
/** The capped link: 20 MB/s (160 Mbit/s). */
const CAP_BYTES_PER_SECOND = 20_000_000;
const LOSS_PERCENTS = [0, 1, 3];
/** What the two-NAT path compares: hyperdht's encrypted stream and encrypted Antt/UDP. */
const TWO_NAT_KINDS: Kind[] = ['hyperdht', 'antt', 'antt1200'];
export const TWO_NAT_PATH = 'lab, 2 NATs (EIM, drop)';

export interface LabRowOptions {
  quick: boolean;
  kinds: Kind[];
  transfer(kind: Kind, total: number, options: TransferOptions): Promise<Result>;
}

export async function labRows({ quick, kinds, transfer }: LabRowOptions): Promise<Result[]> {
  const availability = await labAvailability();
  if (!availability.available) {
    console.log(`lab rows skipped: ${availability.reason}`);
    return [];
  }
  const results: Result[] = [];
  const lab = await createLab({ name: 'udp_bench' });
  try {
    const router = await lab.addRouter('r1');
    const sender = await lab.addHost('snd', { behind: router });
    const receiver = await lab.addPublicHost('rcv');
    const base = {
      receiverHost: '0.0.0.0',
      senderTarget: receiver.address,
      senderSeenAs: router.publicAddress,
      receiverNs: receiver.namespace,
      senderNs: sender.namespace,
    };
    const pathBytes = quick ? 256 * MiB : 1024 * MiB;
    const twoNatsOnly = process.argv.includes('--two-nats-only');
    const onePathKinds = kinds.filter((k) => k !== 'hyperdht');
    for (const kind of process.argv.includes('--cap-only') || twoNatsOnly ? [] : onePathKinds) {
      process.stderr.write(`lab ${kind} ${pathBytes / MiB} MiB ...\n`);
      results.push(await transfer(kind, pathBytes, { ...base, path: 'lab, 1500 MTU, NAT' }));
    }
    if (!process.argv.includes('--cap-only')) {
      results.push(...(await twoNatRows(lab, kinds, pathBytes, transfer)));
    }
    if (process.argv.includes('--path-only') || twoNatsOnly) return results;
    await lab.setRateLimit(sender, { bytesPerSecond: CAP_BYTES_PER_SECOND, direction: 'up' });
    const cappedBytes = quick ? 32 * MiB : 128 * MiB;
    for (const loss of LOSS_PERCENTS) {
      await lab.setLoss(router, loss);
      for (const kind of onePathKinds) {
        process.stderr.write(`lab cap ${loss}% loss ${kind} ${cappedBytes / MiB} MiB ...\n`);
        results.push(
          await transfer(kind, cappedBytes, {
            ...base,
            path: `lab, cap 20 MB/s, ${loss}% loss`,
            capBytesPerSecond: CAP_BYTES_PER_SECOND,
          }),
        );
      }
    }
  } finally {
    await lab.destroy();
  }
  return results;
}

/**
 * Two hosts behind two endpoint-independent NATs that drop unsolicited packets, as two peers at home:
 * encrypted Antt/UDP with both sides connecting, and hyperdht's encrypted stream through its own hole
 * punching (bootstrapped from a testnet on a public host), in the same run.
 */
async function twoNatRows(
  lab: Awaited<ReturnType<typeof createLab>>,
  kinds: Kind[],
  bytes: number,
  transfer: LabRowOptions['transfer'],
): Promise<Result[]> {
  const chosen = TWO_NAT_KINDS.filter((k) => kinds.includes(k));
  if (chosen.length === 0) return [];
  const natA = await lab.addRouter('natA', { mapping: 'endpoint-independent', unsolicited: 'drop' });
  const natB = await lab.addRouter('natB', { mapping: 'endpoint-independent', unsolicited: 'drop' });
  const sender = await lab.addHost('a', { behind: natA });
  const receiver = await lab.addHost('b', { behind: natB });
  const path = {
    path: TWO_NAT_PATH,
    receiverHost: '0.0.0.0',
    senderTarget: natB.publicAddress,
    senderSeenAs: natA.publicAddress,
    receiverNs: receiver.namespace,
    senderNs: sender.namespace,
  };
  let testnet: ReturnType<typeof peer> | undefined;
  let bootstrap: { host: string; port: number } | undefined;
  const results: Result[] = [];
  try {
    for (const kind of chosen) {
      process.stderr.write(`lab 2 NATs ${kind} ${bytes / MiB} MiB ...\n`);
      if (kind !== 'hyperdht') {
        // The NATs keep the local port (plain masquerade), so each side knows the other's public port.
        results.push(await transfer(kind, bytes, { ...path, connectBack: true }));
        continue;
      }
      if (!bootstrap) {
        const dht = await lab.addPublicHost('dht');
        testnet = peer(['testnet', 'hyperdht', '0', dht.address], dht.namespace);
        bootstrap = { host: dht.address, port: Number((await next(testnet.lines)).port) };
      }
      // The sender's "receiver address" is the bootstrap node; the receiver announces itself there.
      const result = await transfer(kind, bytes, {
        ...path,
        senderTarget: bootstrap.host,
        receiverArgs: [`--bootstrap=${bootstrap.host}:${bootstrap.port}`],
      });
      results.push(result);
      // The stream's far end is the receiver's NAT when hyperdht punched through (not a relay).
      const remote = String(result.sender.remote ?? 'unknown');
      const punched = remote.startsWith(`${natB.publicAddress}:`);
      console.log(
        `lab 2 NATs: hyperdht's stream ran to ${remote} (receiver's NAT: ${natB.publicAddress}` +
          `${punched ? ', hole-punched' : ''})`,
      );
    }
  } finally {
    testnet?.kill();
  }
  return results;
}
