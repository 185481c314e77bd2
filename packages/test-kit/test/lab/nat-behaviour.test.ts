import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type AgentUdpSocket,
  createLab,
  describeLab,
  type Lab,
  type LabAgent,
  type LabHost,
  type LabRouter,
} from '../../src/network.js';

const UDP_PORT = 7000;
const UDP_PORT_2 = 7001;
const TCP_PORT = 8000;
const CLOSED_PORT = 5555;
const HOST_PORT = 40000;
/** How long "nothing arrives" is watched for. */
const SILENCE_MS = 600;

describeLab('NAT behaviour in a namespace lab', () => {
  let lab: Lab;
  let server: LabHost;
  let p: LabHost;
  let natEim: LabRouter;
  let natEdm: LabRouter;
  let natBlock: LabRouter;
  let natShort: LabRouter;
  let a1: LabHost;
  let a2: LabHost;
  let b: LabHost;
  let c: LabHost;
  let d: LabHost;
  const agents = new Map<LabHost, LabAgent>();
  let serverUdp: AgentUdpSocket;
  let linksBefore: string;

  const agent = (host: LabHost) => agents.get(host)!;
  const at = (host: LabHost | LabRouter, port: number) => ({ host: host.address, port });

  beforeAll(async () => {
    linksBefore = await rootLinks();
    lab = await createLab({ name: 'nat-behaviour' });
    [server, p] = [await lab.addPublicHost('server'), await lab.addHost('p', { public: true })];
    natEim = await lab.addRouter('natEim', { mapping: 'endpoint-independent', unsolicited: 'drop' });
    natEdm = await lab.addRouter('natEdm', { mapping: 'endpoint-dependent', unsolicited: 'reset' });
    natBlock = await lab.addRouter('natBlock', { blockUdp: true });
    natShort = await lab.addRouter('natShort', { udpTimeoutSec: 1, lanSubnet: '10.0.1.0/24' }); // same LAN as natEim
    a1 = await lab.addHost('a1', { behind: natEim });
    a2 = await lab.addHost('a2', { behind: natEim });
    b = await lab.addHost('b', { behind: natEdm });
    c = await lab.addHost('c', { behind: natBlock });
    d = await lab.addHost('d', { behind: natShort });
    await Promise.all(
      [server, p, a1, a2, b, c, d].map(async (host) => agents.set(host, await host.startAgent())),
    );
    serverUdp = await agent(server).udpBind({ port: UDP_PORT, reflect: true });
    await agent(server).udpBind({ port: UDP_PORT_2, reflect: true });
    await agent(server).tcpListen({ port: TCP_PORT, reflect: true });
    await agent(p).udpBind({ port: UDP_PORT, reflect: true });
  }, 30_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('endpoint-independent: one socket keeps one outside address:port toward every destination', async () => {
    const socket = await agent(a1).udpBind({ port: HOST_PORT });
    const seen = [
      await socket.observeMapping(at(server, UDP_PORT)),
      await socket.observeMapping(at(server, UDP_PORT_2)),
      await socket.observeMapping(at(p, UDP_PORT)),
    ];
    // Plain masquerade keeps the source port when it is free.
    expect(seen).toEqual([0, 1, 2].map(() => ({ address: natEim.publicAddress, port: HOST_PORT })));
  });

  it('a second host behind the same NAT gets its own outside port and reaches the first on the LAN', async () => {
    const socket = await agent(a2).udpBind({ port: HOST_PORT });
    const mapped = await socket.observeMapping(at(server, UDP_PORT));
    expect(mapped?.address).toBe(natEim.publicAddress);
    expect(mapped?.port).not.toBe(HOST_PORT); // taken by a1's flow to the same server port
    const a1Socket = await agent(a1).udpBind();
    await socket.send({ host: a1.address, port: a1Socket.port }, 'hello neighbour');
    const got = await a1Socket.receive({ timeoutMs: 2000 });
    expect(got?.from).toEqual({ address: a2.address, port: HOST_PORT }); // no NAT on the LAN
  });

  it('endpoint-dependent: a new outside port for every destination', async () => {
    const socket = await agent(b).udpBind({ port: HOST_PORT });
    const seen = [
      await socket.observeMapping(at(server, UDP_PORT)),
      await socket.observeMapping(at(server, UDP_PORT_2)),
      await socket.observeMapping(at(p, UDP_PORT)),
    ];
    expect(seen.map((m) => m?.address)).toEqual([0, 1, 2].map(() => natEdm.publicAddress));
    expect(new Set(seen.map((m) => m?.port)).size).toBe(3);
  });

  it('a public host is seen as itself', async () => {
    const socket = await agent(p).udpBind({ port: HOST_PORT });
    expect(await socket.observeMapping(at(server, UDP_PORT))).toEqual({
      address: p.address,
      port: HOST_PORT,
    });
  });

  it("'drop' routers ignore unsolicited UDP, even to a mapped port; the solicited peer still gets in", async () => {
    const inside = await agent(a1).udpBind();
    const mapped = await inside.observeMapping(at(server, UDP_PORT));
    expect(mapped).toBeDefined();
    const outsider = await agent(p).udpBind();
    await outsider.connect({ host: natEim.publicAddress, port: mapped!.port });
    await outsider.send(undefined, 'unsolicited');
    await outsider.send(undefined, 'unsolicited again');
    const stranger = await agent(p).udpBind();
    await stranger.send({ host: natEim.publicAddress, port: CLOSED_PORT }, 'to an unmapped port');
    expect(await inside.receive({ timeoutMs: SILENCE_MS })).toBeUndefined();
    expect(outsider.errors).toEqual([]); // no ICMP came back either
    await serverUdp.send({ host: natEim.publicAddress, port: mapped!.port }, 'solicited');
    expect((await inside.receive({ timeoutMs: 2000 }))?.data.toString()).toBe('solicited');
  });

  it("'reset' routers answer unsolicited UDP with ICMP port unreachable", async () => {
    const outsider = await agent(p).udpBind();
    await outsider.connect({ host: natEdm.publicAddress, port: CLOSED_PORT });
    await outsider.send(undefined, 'unsolicited');
    await outsider.receive({ timeoutMs: SILENCE_MS });
    await outsider.send(undefined, 'unsolicited again'); // the error surfaces on a later call
    await outsider.receive({ timeoutMs: 200 });
    expect(outsider.errors).toContain('ECONNREFUSED');
  });

  it("unsolicited TCP SYN: 'reset' refuses at once, 'drop' leaves the caller to time out", async () => {
    const reset = await agent(p).tcpConnect(at(natEdm, CLOSED_PORT), { timeoutMs: 3000 });
    expect(reset.outcome).toBe('refused');
    expect(reset.elapsedMs).toBeLessThan(1000);
    const dropped = await agent(p).tcpConnect(at(natEim, CLOSED_PORT), { timeoutMs: 1500 });
    expect(dropped.outcome).toBe('timeout');
    // Outbound TCP through the NAT works, and the server sees the router's address.
    const outbound = await agent(a1).tcpConnect(at(server, TCP_PORT), { timeoutMs: 3000 });
    expect(outbound.outcome).toBe('connected');
    expect(JSON.parse(outbound.data!).address).toBe(natEim.publicAddress);
  });

  it('blockUdp drops UDP and lets TCP through', async () => {
    const socket = await agent(c).udpBind();
    expect(
      await socket.observeMapping(at(server, UDP_PORT), { attempts: 2, timeoutMs: 400 }),
    ).toBeUndefined();
    const tcp = await agent(c).tcpConnect(at(server, TCP_PORT), { timeoutMs: 3000 });
    expect(tcp.outcome).toBe('connected');
    expect(JSON.parse(tcp.data!).address).toBe(natBlock.publicAddress);
  });

  it('udpTimeoutSec makes the router forget an idle mapping', async () => {
    const inside = await agent(d).udpBind();
    const mapped = await inside.observeMapping(at(server, UDP_PORT));
    expect(mapped?.address).toBe(natShort.publicAddress);
    const mapping = { host: natShort.publicAddress, port: mapped!.port };
    await serverUdp.send(mapping, 'while fresh');
    expect((await inside.receive({ timeoutMs: 2000 }))?.data.toString()).toBe('while fresh');
    await new Promise((resolve) => setTimeout(resolve, 2500)); // > 1 s of idleness
    await serverUdp.send(mapping, 'after the timeout');
    expect(await inside.receive({ timeoutMs: SILENCE_MS })).toBeUndefined();
  });

  it('setLoss drops about the given share of forwarded packets, 0 restores', async () => {
    const socket = await agent(a1).udpBind();
    const roundTrips = async (count: number) => {
      for (let i = 0; i < count; i++) await socket.send(at(server, UDP_PORT), `n${i}`);
      let replies = 0;
      while (await socket.receive({ timeoutMs: 300 })) replies++;
      return replies;
    };
    await lab.setLoss(natEim, 50);
    // Each round trip crosses the router twice: about 25% come back.
    const lossy = await roundTrips(400);
    expect(lossy).toBeGreaterThan(400 * 0.25 - 45);
    expect(lossy).toBeLessThan(400 * 0.25 + 45);
    await lab.setLoss(natEim, 0);
    expect(await roundTrips(100)).toBe(100);
  });

  it('setRateLimit caps a link (TCP upload of 600 kB through a 400 kB/s cap)', async () => {
    const bytes = 600_000;
    const rate = 400_000;
    const sink = p.spawnNode(
      {
        code: `require('node:net').createServer((s) => { let n = 0; const t = Date.now();
        s.on('data', (d) => { n += d.length; }); s.on('end', () => { console.log('got ' + n + ' in ' + (Date.now() - t)); process.exit(0); });
      }).listen(9000, () => console.log('listening'));`,
      },
      [],
      { timeoutMs: 20_000 },
    );
    await sink.waitForOutput('listening');
    await lab.setRateLimit(a2, { bytesPerSecond: rate, direction: 'up' });
    const upload = a2.spawnNode(
      {
        code: `const s = require('node:net').connect(9000, process.argv[2], () => s.end(Buffer.alloc(${bytes})));`,
      },
      [p.address],
      { timeoutMs: 20_000 },
    );
    const line = await sink.waitForOutput(/^got \d+ in \d+/, { timeoutMs: 15_000 });
    await upload.exited;
    await lab.setRateLimit(a2, null);
    const [, received, elapsedMs] = /^got (\d+) in (\d+)/.exec(line)!.map(Number);
    expect(received).toBe(bytes);
    // Only a lower bound: a slow machine may take longer, but nothing may beat the cap.
    expect(elapsedMs).toBeGreaterThan(((bytes - 100_000) / rate) * 1000);
  });

  it('destroy removes every namespace, link and process of the lab', async () => {
    const pids = [...agents.values()].map((a) => a.process.pid);
    await lab.destroy();
    await lab.destroy(); // idempotent
    expect((await netnsList()).filter((name) => name.startsWith(lab.id))).toEqual([]);
    expect(lab.namespaces).toEqual([]);
    expect(await rootLinks()).toBe(linksBefore);
    for (const pid of pids) expect(() => process.kill(pid!, 0)).toThrow();
  });
});

async function netnsList(): Promise<string[]> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile('ip', ['netns', 'list'], (error, stdout) =>
      error
        ? reject(error)
        : resolve(
            stdout
              .split('\n')
              .map((l) => l.split(' ')[0]!)
              .filter(Boolean),
          ),
    ),
  );
}

async function rootLinks(): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile('ip', ['-o', 'link', 'show'], (error, stdout) =>
      error
        ? reject(error)
        : resolve(
            stdout
              .split('\n')
              .map((l) => l.split(':')[1]?.trim())
              .join(','),
          ),
    ),
  );
}
