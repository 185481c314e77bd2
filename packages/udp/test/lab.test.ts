/**
 * The prototype's scenario through real NATs: two hosts behind two endpoint-independent NATs (network
 * namespaces, nftables masquerade), each told the other's public address and port, connect directly with
 * the symmetric handshake and exchange 16 MiB each way. Runs when the namespace lab is available (root,
 * ip, nft); skipped with the reason otherwise.
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLab, describeLab, type LabHost, type LabProcess } from '@antt/test-kit';
import { expect, it } from 'vitest';
import { testSeed } from './helpers.js';

const MiB = 1024 * 1024;
const PEER_SCRIPT = fileURLToPath(new URL('./fixtures/lab-peer.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Plain masquerade keeps the source port when it is free: the public port is the local one. */
const PEER_PORT_A = 40_001;
const PEER_PORT_B = 40_002;

/**
 * Runs the peer script with the `source` condition, so workspace packages load from their sources as in
 * the rest of the tests (the lab's spawnNode does not pass Node options).
 */
function runPeer(host: LabHost, args: string[]): LabProcess {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return host.exec([process.execPath, '--conditions=source', '--import', tsx, PEER_SCRIPT, ...args], {
    cwd: PACKAGE_DIR,
    timeoutMs: 90_000,
  });
}

function result(peer: LabProcess): Record<string, unknown> {
  const line = peer.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`peer printed no result; stderr:\n${peer.stderr}`);
  }
}

describeLab('udp through two endpoint-independent NATs', () => {
  it('connects directly with simultaneous INITs and exchanges 16 MiB each way', {
    timeout: 120_000,
  }, async () => {
    const seed = testSeed('udp lab 16 MiB');
    const lab = await createLab({ name: 'udp_nat' });
    try {
      const natA = await lab.addRouter('nat_a', { mapping: 'endpoint-independent' });
      const natB = await lab.addRouter('nat_b', { mapping: 'endpoint-independent' });
      const a = await lab.addHost('a', { behind: natA });
      const b = await lab.addHost('b', { behind: natB });
      const total = 16 * MiB;
      const peerA = runPeer(a, [
        'closer',
        String(PEER_PORT_A),
        natB.publicAddress,
        String(PEER_PORT_B),
        String(total),
        String(seed),
      ]);
      // B starts a moment later, as a peer that got the address late: A's first INITs die at NAT B.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const peerB = runPeer(b, [
        'waiter',
        String(PEER_PORT_B),
        natA.publicAddress,
        String(PEER_PORT_A),
        String(total),
        String(seed + 1),
      ]);
      const [exitA, exitB] = await Promise.all([peerA.exited, peerB.exited]);
      expect(exitA.code, peerA.stderr).toBe(0);
      expect(exitB.code, peerB.stderr).toBe(0);
      const ra = result(peerA);
      const rb = result(peerB);
      console.log('lab a', ra);
      console.log('lab b', rb);
      expect(ra.received).toBe(rb.sent);
      expect(rb.received).toBe(ra.sent);
      // Each saw the other at its NAT's public address: a direct path, no relay.
      expect((ra.remote as { host: string }).host).toBe(natB.publicAddress);
      expect((rb.remote as { host: string }).host).toBe(natA.publicAddress);
      expect(ra.closeError).toBeNull();
      expect(rb.closeError).toBeNull();
    } finally {
      await lab.destroy();
    }
  });
});
