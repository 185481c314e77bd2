/**
 * Injection and replay by a third host on the path, in the namespace lab (issue 5): a sender behind an
 * endpoint-independent NAT sends 64 MiB, encrypted with a passphrase, to a public receiver; an attacker on
 * the same internet segment (the lab's bridge, set to flood every frame to every port as a hub would)
 * sniffs their datagrams and, during the transfer, sends replays and forgeries carrying the live
 * connection ID from a raw IP_HDRINCL socket with the peers' addresses as spoofed sources
 * (fixtures/lab-injector.py). The transfer must complete with equal SHA-256, the connection must stay
 * open, and every injected datagram that reached a peer must show in its drop counters.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createLab, describeLab, type LabHost, type LabProcess } from '@antt/test-kit';
import { expect, it } from 'vitest';
import { testSeed } from './helpers.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const PEER_SCRIPT = fileURLToPath(new URL('./fixtures/lab-injection-peer.ts', import.meta.url));
const INJECTOR_SCRIPT = fileURLToPath(new URL('./fixtures/lab-injector.py', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const RECEIVER_PORT = 41_001;
const SENDER_PORT = 41_002;
const TOTAL_BYTES = 64 * MiB;
/** The attacker sends one round (5 datagrams to the receiver, 2 to the sender) this often. */
const ATTACK_INTERVAL_MS = 4;

function runPeer(host: LabHost, args: string[]): LabProcess {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return host.exec([process.execPath, '--conditions=source', '--import', tsx, PEER_SCRIPT, ...args], {
    cwd: PACKAGE_DIR,
    timeoutMs: 90_000,
  });
}

/** The last JSON line a process printed with `"event": event`. */
function event(process: LabProcess, name: string): Record<string, unknown> {
  for (const line of process.stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (parsed.event === name) return parsed;
  }
  throw new Error(`no "${name}" line; stdout:\n${process.stdout}\nstderr:\n${process.stderr}`);
}

/**
 * Datagrams the host's namespace dropped before they reached a socket's reader: UDP receive-buffer
 * overflows (per namespace) and the veth's receive drops. An upper bound on injected datagrams that did
 * not reach the peer.
 */
async function dropsBeforeSocket(host: LabHost): Promise<{ rcvbufErrors: number; rxDropped: number }> {
  const snmp = (await host.run(['cat', '/proc/net/snmp'])).stdout
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const names = snmp[0]!.split(/\s+/);
  const values = snmp[1]!.split(/\s+/).map(Number);
  const rcvbufErrors = values[names.indexOf('RcvbufErrors')]!;
  const link = JSON.parse((await host.run(['ip', '-j', '-s', 'link', 'show', 'dev', 'eth0'])).stdout) as {
    stats64: { rx: { dropped: number } };
  }[];
  return { rcvbufErrors, rxDropped: link[0]!.stats64.rx.dropped };
}

describeLab('udp injection by a third host on the path', () => {
  it('completes a 64 MiB encrypted transfer while a sniffer replays and forges, counting every one', {
    timeout: 120_000,
  }, async () => {
    const seed = testSeed('udp lab injection 64 MiB');
    const lab = await createLab({ name: 'udp_inject' });
    try {
      const nat = await lab.addRouter('nat', { mapping: 'endpoint-independent' });
      const sender = await lab.addHost('sender', { behind: nat });
      const receiver = await lab.addPublicHost('receiver');
      const attacker = await lab.addPublicHost('attacker');
      // A bridge that never learns addresses floods every frame to every port: the attacker sees the
      // peers' unicast traffic, as on a shared medium.
      await run(
        'ip',
        ['-n', lab.internetNamespace, 'link', 'set', 'br0', 'type', 'bridge', 'ageing_time', '0'],
        {
          timeout: 10_000,
        },
      );

      const receiving = runPeer(receiver, ['receiver', String(RECEIVER_PORT), String(TOTAL_BYTES)]);
      await receiving.waitForOutput('"event":"listening"', { timeoutMs: 20_000 });
      const injector = attacker.exec(
        [
          'python3',
          INJECTOR_SCRIPT,
          'eth0',
          receiver.address,
          String(RECEIVER_PORT),
          String(ATTACK_INTERVAL_MS),
          '100',
        ],
        { timeoutMs: 110_000 },
      );
      await injector.waitForOutput('sniffing', { timeoutMs: 10_000 });
      const sending = runPeer(sender, [
        'sender',
        String(SENDER_PORT),
        receiver.address,
        String(RECEIVER_PORT),
        String(TOTAL_BYTES),
        String(seed),
      ]);
      const started = Date.now();
      await receiving.waitForOutput('"event":"received"', { timeoutMs: 90_000 });
      await sending.waitForOutput('"event":"sent"', { timeoutMs: 10_000 });
      const transferMs = Date.now() - started;

      // The attack stops, what it sent arrives, then both peers report their counters.
      injector.write('stop\n');
      const injectorExit = await Promise.race([
        injector.exited,
        new Promise((resolve) => setTimeout(resolve, 5_000)),
      ]);
      expect(injectorExit, `injector did not stop; stderr:\n${injector.stderr}`).toEqual({
        code: 0,
        signal: null,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      receiving.write('report\n');
      sending.write('report\n');
      await Promise.all([
        receiving.waitForOutput('"event":"report"', { timeoutMs: 10_000 }),
        sending.waitForOutput('"event":"report"', { timeoutMs: 10_000 }),
      ]);
      const [receiverDrops, senderDrops] = await Promise.all([
        dropsBeforeSocket(receiver),
        dropsBeforeSocket(sender),
      ]);
      const [exitReceiver, exitSender] = await Promise.all([receiving.exited, sending.exited]);
      expect(exitSender.code, sending.stderr).toBe(0);
      expect(exitReceiver.code, receiving.stderr).toBe(0);

      const attack = JSON.parse(injector.stdout.trim().split('\n').pop()!) as {
        connectionId: string;
        sender: string;
        dataToReceiver: number;
        dataToSender: number;
        toReceiver: { replayed: number; forged: number; sendErrors: number };
        toSender: { replayed: number; forged: number; sendErrors: number };
      };
      const received = event(receiving, 'received');
      const sent = event(sending, 'sent');
      const receiverReport = event(receiving, 'report');
      const senderReport = event(sending, 'report');
      const receiverStats = receiverReport.stats as Record<string, number>;
      const senderStats = senderReport.stats as Record<string, number>;
      console.log('lab injection', {
        transferMs,
        attack,
        receiverDrops,
        senderDrops,
        receiver: receiverStats,
        receiverEndpoint: receiverReport.endpointStats,
        sender: senderStats,
      });

      // The data went through intact, over one connection that stayed open, and closed gracefully.
      expect(received.sha256).toBe(sent.sha256);
      expect(received.bytes).toBe(TOTAL_BYTES);
      expect((received.remote as { host: string }).host).toBe(nat.publicAddress);
      expect(receiverReport.state).toBe('open');
      expect(senderReport.state).toBe('open');
      expect(event(sending, 'closed').closeError).toBeNull();
      expect(event(receiving, 'closed').closeError).toBeNull();

      // The attacker saw the live connection and attacked it, from the sender's public address.
      expect(attack.sender).toBe(`${nat.publicAddress}:${SENDER_PORT}`);
      expect(attack.toReceiver.forged).toBeGreaterThan(100);
      expect(attack.toReceiver.replayed).toBeGreaterThan(100);
      expect(attack.toSender.forged).toBeGreaterThan(10);

      // Every injected datagram that reached a peer is counted as forged or replayed. "Reached": all the
      // injector sent, less whatever that namespace dropped before the socket's reader (buffer overflows,
      // veth drops; legitimate datagrams included, so this is an upper bound on injected ones lost).
      const injectedToReceiver = attack.toReceiver.forged + attack.toReceiver.replayed;
      const lostAtReceiver = receiverDrops.rcvbufErrors + receiverDrops.rxDropped;
      const rejectedAtReceiver =
        receiverStats.datagramsRejectedAuth! + receiverStats.datagramsRejectedReplay!;
      expect(rejectedAtReceiver).toBeGreaterThanOrEqual(injectedToReceiver - lostAtReceiver);
      // Forgeries carry packet numbers ahead of anything sent: they can only fail authentication.
      expect(receiverStats.datagramsRejectedAuth).toBeGreaterThanOrEqual(
        attack.toReceiver.forged - lostAtReceiver,
      );
      expect(receiverStats.datagramsRejectedReplay).toBeGreaterThanOrEqual(
        attack.toReceiver.replayed - lostAtReceiver,
      );
      const injectedToSender = attack.toSender.forged + attack.toSender.replayed;
      const lostAtSender = senderDrops.rcvbufErrors + senderDrops.rxDropped;
      expect(
        senderStats.datagramsRejectedAuth! + senderStats.datagramsRejectedReplay!,
      ).toBeGreaterThanOrEqual(injectedToSender - lostAtSender);
      expect(senderStats.datagramsRejectedAuth).toBeGreaterThanOrEqual(attack.toSender.forged - lostAtSender);
    } finally {
      await lab.destroy();
    }
  });
});
