/**
 * A NAT rebinding mid-transfer, through real NATs (network namespaces, nftables, conntrack): host A
 * behind an endpoint-independent NAT sends 16 MiB to host B behind another; when B has about a quarter,
 * A's router forgets the mapping (its conntrack entries are deleted) and maps new flows to another port
 * range, so A's next datagram leaves from a new public port. B's connection must validate the new
 * address and follow it, and the transfer must complete with equal SHA-256.
 *
 * B's router lets unsolicited UDP to B's port in (a port forward: endpoint-independent filtering, "full
 * cone"). With address-and-port-dependent filtering on both sides, A's new port could not reach B at all
 * and B's replies to A's old port die at A's router: no transport can survive that without a third party
 * (see the README's Migration section). Runs when the lab is available (root, ip, nft, conntrack).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLab, describeLab, type LabHost, type LabNode, type LabProcess } from '@antt/test-kit';
import { expect, it } from 'vitest';
import { testSeed } from './helpers.js';

const MiB = 1024 * 1024;
const PEER_SCRIPT = fileURLToPath(new URL('./fixtures/lab-migration-peer.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const PEER_PORT_A = 40_001;
const PEER_PORT_B = 40_002;
/** A's router maps new flows into this range after the change: a port A cannot have had before. */
const REMAP_PORT_FIRST = 50_000;
const REMAP_PORT_LAST = 59_999;
/** B's progress (bytes received) at which A's mapping changes. */
const REBIND_AT_BYTES = 4 * MiB;

function runPeer(host: LabHost, args: string[]): LabProcess {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return host.exec([process.execPath, '--conditions=source', '--import', tsx, PEER_SCRIPT, ...args], {
    cwd: PACKAGE_DIR,
    timeoutMs: 75_000,
  });
}

function result(peer: LabProcess): Record<string, unknown> & { stats: Record<string, number> } {
  const line = peer.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`peer printed no result; stderr:\n${peer.stderr}`);
  }
}

async function nft(node: LabNode, ruleset: string): Promise<void> {
  const file = join(tmpdir(), `antt-lab-migration-${process.pid}-${node.name}.nft`);
  writeFileSync(file, ruleset);
  await node.run(['nft', '-f', file]);
}

describeLab('udp connection migration through real NATs', () => {
  it('survives the sender NAT changing its mapping mid-transfer: 16 MiB intact, one migration', {
    timeout: 90_000,
  }, async () => {
    const seed = testSeed('udp lab migration');
    const lab = await createLab({ name: 'udp_mig' });
    try {
      const natA = await lab.addRouter('nat_a', { mapping: 'endpoint-independent' });
      const natB = await lab.addRouter('nat_b', { mapping: 'endpoint-independent' });
      const a = await lab.addHost('a', { behind: natA });
      const b = await lab.addHost('b', { behind: natB });
      // B's router: a port forward to B (endpoint-independent filtering for B's port).
      await nft(
        natB,
        [
          'table ip antt_fullcone {',
          '  chain prerouting {',
          '    type nat hook prerouting priority dstnat; policy accept;',
          `    iifname "wan" udp dport ${PEER_PORT_B} dnat to ${b.address}:${PEER_PORT_B}`,
          '  }',
          '}',
          'insert rule ip antt_router forward ct status dnat accept',
          '',
        ].join('\n'),
      );
      const total = 16 * MiB;
      const receiver = runPeer(b, [
        'receiver',
        String(PEER_PORT_B),
        natA.publicAddress,
        String(PEER_PORT_A),
        String(total),
        String(seed),
      ]);
      const sender = runPeer(a, [
        'sender',
        String(PEER_PORT_A),
        natB.publicAddress,
        String(PEER_PORT_B),
        String(total),
        String(seed),
      ]);
      let rebinding: Promise<void> | undefined;
      const removeListener = receiver.onLine((line) => {
        const match = /^progress (\d+)$/.exec(line);
        if (!match || rebinding || Number(match[1]) < REBIND_AT_BYTES) return;
        rebinding = (async () => {
          // New flows from A's side leave from another port range (this chain runs before the router's
          // own masquerade, and the first NAT rule that maps a flow wins)...
          await nft(
            natA,
            [
              'table ip antt_remap {',
              '  chain postrouting {',
              '    type nat hook postrouting priority srcnat - 1; policy accept;',
              `    oifname "wan" meta l4proto udp masquerade to :${REMAP_PORT_FIRST}-${REMAP_PORT_LAST}`,
              '  }',
              '}',
              '',
            ].join('\n'),
          );
          // ...and the router forgets every UDP mapping it had, as a NAT does when it reboots or expires one.
          await natA.run(['conntrack', '-D', '-p', 'udp']);
        })();
      });
      const [exitA, exitB] = await Promise.all([sender.exited, receiver.exited]);
      removeListener();
      await rebinding;
      expect(rebinding, 'the transfer ended before the mapping changed').toBeDefined();
      expect(exitA.code, sender.stderr).toBe(0);
      expect(exitB.code, receiver.stderr).toBe(0);
      const ra = result(sender);
      const rb = result(receiver);
      console.log('sender', ra);
      console.log('receiver', rb);
      expect(rb.digest).toBe(ra.digest);
      expect(ra.closeError).toBeNull();
      expect(rb.closeError).toBeNull();
      // B follows A to its new public port, on the same connection: one validated migration.
      const remote = rb.remote as { host: string; port: number };
      expect(remote.host).toBe(natA.publicAddress);
      expect(remote.port).toBeGreaterThanOrEqual(REMAP_PORT_FIRST);
      expect(remote.port).toBeLessThanOrEqual(REMAP_PORT_LAST);
      expect(rb.stats.pathMigrations).toBe(1);
      expect(rb.stats.pathChallengesSent).toBeGreaterThan(0);
      expect(rb.changes).toEqual([
        {
          reason: 'peer-moved',
          previous: { host: natA.publicAddress, port: PEER_PORT_A, family: 'IPv4' },
          remote: { host: natA.publicAddress, port: remote.port, family: 'IPv4' },
        },
      ]);
      expect(ra.stats.pathMigrations).toBe(0);
    } finally {
      await lab.destroy();
    }
  });
});
