/**
 * The benchmark's namespace-lab rows: a sender behind a router (1500-byte MTU veths, nftables NAT) and a
 * receiver on the lab's "internet", then the same path under an htb/tbf rate cap with 0%, 1% and 3%
 * random loss at the router. They need root and the test kit's lab; otherwise they are skipped and the
 * table says why.
 */
import { createLab, labAvailability } from '@antt/test-kit';
import type { Kind, Result, TransferOptions } from './index.js';

const MiB = 2 ** 20;
/** The capped link: 20 MB/s (160 Mbit/s). */
const CAP_BYTES_PER_SECOND = 20_000_000;
const LOSS_PERCENTS = [0, 1, 3];

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
    for (const kind of process.argv.includes('--cap-only') ? [] : kinds) {
      process.stderr.write(`lab ${kind} ${pathBytes / MiB} MiB ...\n`);
      results.push(await transfer(kind, pathBytes, { ...base, path: 'lab, 1500 MTU, NAT' }));
    }
    if (process.argv.includes('--path-only')) return results;
    await lab.setRateLimit(sender, { bytesPerSecond: CAP_BYTES_PER_SECOND, direction: 'up' });
    const cappedBytes = quick ? 32 * MiB : 128 * MiB;
    for (const loss of LOSS_PERCENTS) {
      await lab.setLoss(router, loss);
      for (const kind of kinds) {
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
