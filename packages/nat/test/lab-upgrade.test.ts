/**
 * Relay -> direct upgrade through real NATs: two hosts behind endpoint-independent NATs meet through the
 * rendezvous server, forced onto its relay (`forceRelay`, with the background upgrade still on), and
 * start a 16 MiB transfer through it. The relay is capped at 2 MB/s, so the transfer would take over 8 s
 * relayed; meanwhile each side punches a direct path from the same socket and migrates the live
 * connection onto it. Expected: the transfer completes with equal SHA-256, both connections end up with
 * `path.kind` 'direct' and `upgradedFromRelay` set, and the switch happened mid-transfer.
 */
import { createLab, describeLab, type LabHost, type LabProcess } from '@antt/test-kit';
import { expect, it } from 'vitest';
import type { ConnectionPath } from '../src/connect.js';

const RENDEZVOUS_SCRIPT = new URL('./fixtures/lab-rendezvous.ts', import.meta.url);
const PEER_SCRIPT = new URL('./fixtures/lab-upgrade-peer.ts', import.meta.url);
const ENV = { NODE_OPTIONS: '--conditions=source' };
const RELAY_RATE_BYTES_PER_SEC = 2_000_000;
const TOTAL_BYTES = 16 * 1024 * 1024;

interface Outcome {
  connectPath?: ConnectionPath;
  result?: {
    path: ConnectionPath;
    sha: string;
    changes: { reason: string; atBytes: number; remote: { host: string; port: number } }[];
    closeError: string | null;
    stats: Record<string, number>;
  };
  error?: { code: string; stage: string; message: string };
}

function outcome(child: LabProcess): Outcome {
  const out: Outcome = {};
  for (const line of child.stdout.split('\n')) {
    if (line.startsWith('PATH ')) out.connectPath = JSON.parse(line.slice(5));
    if (line.startsWith('RESULT ')) out.result = JSON.parse(line.slice(7));
    if (line.startsWith('ERROR ')) out.error = JSON.parse(line.slice(6));
  }
  if (!out.result && !out.error) out.error = { code: '?', stage: '?', message: child.stderr.slice(-2000) };
  return out;
}

describeLab('relay -> direct upgrade (namespace lab)', () => {
  it('moves a relayed transfer between two endpoint-independent NATs to the direct path, losing nothing', {
    timeout: 90_000,
  }, async () => {
    const lab = await createLab({ name: 'upgrade' });
    try {
      const rv = await lab.addPublicHost('rv');
      const server = rv.spawnNode(RENDEZVOUS_SCRIPT, [String(RELAY_RATE_BYTES_PER_SEC)], {
        env: ENV,
        timeoutMs: 80_000,
      });
      await server.waitForOutput('LISTENING', { timeoutMs: 20_000 });
      const rendezvous = `${rv.address}:3478`;
      const natA = await lab.addRouter('eimA', { mapping: 'endpoint-independent', unsolicited: 'drop' });
      const natB = await lab.addRouter('eimB', { mapping: 'endpoint-independent', unsolicited: 'drop' });
      const a = await lab.addHost('a', { behind: natA });
      const b = await lab.addHost('b', { behind: natB });
      const run = (host: LabHost, role: string) =>
        host.spawnNode(PEER_SCRIPT, [rendezvous, 'meet-upgrade', role, String(TOTAL_BYTES)], {
          env: ENV,
          timeoutMs: 70_000,
        });
      const children = [run(a, 'send'), run(b, 'receive')];
      await Promise.all(children.map((child) => child.exited));
      const [sender, receiver] = children.map(outcome) as [Outcome, Outcome];
      console.log(JSON.stringify({ sender, receiver }, null, 1));
      expect(sender.error, sender.error?.message).toBeUndefined();
      expect(receiver.error, receiver.error?.message).toBeUndefined();
      expect(receiver.result!.sha).toBe(sender.result!.sha);
      expect(sender.result!.closeError).toBeNull();
      expect(receiver.result!.closeError).toBeNull();
      for (const [side, peerNat] of [
        [sender, natB],
        [receiver, natA],
      ] as const) {
        expect(side.connectPath).toMatchObject({ kind: 'relayed', reason: 'forceRelay' });
        const path = side.result!.path;
        expect(path).toMatchObject({
          kind: 'direct',
          candidate: 'public',
          remote: { host: peerNat.publicAddress },
          upgradedFromRelay: { relay: { host: rv.address, port: 3478 }, reason: 'forceRelay' },
        });
        expect(side.result!.stats.pathMigrations).toBe(1);
        expect(side.result!.changes).toHaveLength(1);
        expect(side.result!.changes[0]!.remote.host).toBe(peerNat.publicAddress);
      }
      // The switch happened while the bytes were moving, not before the first or after the last.
      const switchedAt = receiver.result!.changes[0]!.atBytes;
      expect(switchedAt).toBeGreaterThan(0);
      expect(switchedAt).toBeLessThan(TOTAL_BYTES);
      await server.stop();
    } finally {
      await lab.destroy();
    }
  });
});
