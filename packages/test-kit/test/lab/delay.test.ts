import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createLab,
  describeLab,
  type Lab,
  type LabAgent,
  type LabHost,
  type LabRouter,
} from '../../src/network.js';

const DELAY_MS = 50;
const UDP_PORT = 7000;
const UDP_PORT_2 = 7001;
const TCP_PORT = 8000;
const HOST_PORT = 40000;
const ECHOES = 5;

/**
 * Run inside a host: `ECHOES` UDP round trips to a reflector, one after another, then one TCP connect
 * (SYN to SYN-ACK is one round trip) to a listener; prints the times in ms as JSON.
 */
const RTT_SCRIPT = `
const dgram = require('node:dgram');
const net = require('node:net');
const [host, udpPort, tcpPort, count] = process.argv.slice(2);
const socket = dgram.createSocket('udp4');
const udp = [];
let sentAt = 0;
const fail = (why) => { console.log(JSON.stringify({ error: why })); process.exit(1); };
setTimeout(() => fail('no echo within 10 s'), 10_000).unref();
socket.on('message', () => {
  udp.push(performance.now() - sentAt);
  if (udp.length < Number(count)) return send();
  socket.close();
  const started = performance.now();
  const connection = net.connect(Number(tcpPort), host, () => {
    console.log(JSON.stringify({ udp, tcp: performance.now() - started }));
    connection.destroy();
    process.exit(0);
  });
  connection.on('error', (error) => fail(error.message));
});
const send = () => { sentAt = performance.now(); socket.send('echo', Number(udpPort), host); };
socket.bind(0, send);
`;

describeLab('lab routers with a delay (TUN hop)', () => {
  let lab: Lab;
  let server: LabHost;
  let slowEim: LabRouter;
  let slowEdm: LabRouter;
  let fast: LabRouter;
  let a: LabHost;
  let b: LabHost;
  let c: LabHost;
  const agents: LabAgent[] = [];

  beforeAll(async () => {
    lab = await createLab({ name: 'delay' });
    server = await lab.addPublicHost('server');
    slowEim = await lab.addRouter('slowEim', { delayMs: DELAY_MS });
    slowEdm = await lab.addRouter('slowEdm', { delayMs: DELAY_MS, mapping: 'endpoint-dependent' });
    fast = await lab.addRouter('fast');
    a = await lab.addHost('a', { behind: slowEim });
    b = await lab.addHost('b', { behind: slowEdm });
    c = await lab.addHost('c', { behind: fast });
    const serverAgent = await server.startAgent();
    agents.push(serverAgent);
    await serverAgent.udpBind({ port: UDP_PORT, reflect: true });
    await serverAgent.udpBind({ port: UDP_PORT_2, reflect: true });
    await serverAgent.tcpListen({ port: TCP_PORT, reflect: true });
  }, 30_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 30_000);

  async function roundTrips(host: LabHost): Promise<{ udp: number[]; tcp: number }> {
    const result = await host.run(
      [
        process.execPath,
        '-e',
        RTT_SCRIPT,
        '--',
        '[eval]',
        server.address,
        String(UDP_PORT),
        String(TCP_PORT),
        String(ECHOES),
      ],
      { timeoutMs: 20_000 },
    );
    return JSON.parse(result.stdout);
  }

  it('every UDP echo and TCP handshake through a delaying router takes at least twice its one-way delay', async () => {
    const slow = await roundTrips(a);
    const plain = await roundTrips(c);
    console.log(
      `round trips (ms) through ${DELAY_MS} ms of delay: ${JSON.stringify(slow)}; without: ${JSON.stringify(plain)}`,
    );
    expect(slow.udp).toHaveLength(ECHOES);
    for (const rtt of slow.udp) expect(rtt).toBeGreaterThanOrEqual(2 * DELAY_MS);
    expect(slow.tcp).toBeGreaterThanOrEqual(2 * DELAY_MS);
    expect(plain.udp).toHaveLength(ECHOES);
  });

  it('the delay changes no NAT behaviour: mapping, filtering, TCP', async () => {
    const agentA = await a.startAgent();
    const agentB = await b.startAgent();
    agents.push(agentA, agentB);
    const socketA = await agentA.udpBind({ port: HOST_PORT });
    const eim = [
      await socketA.observeMapping({ host: server.address, port: UDP_PORT }),
      await socketA.observeMapping({ host: server.address, port: UDP_PORT_2 }),
    ];
    expect(eim).toEqual([0, 1].map(() => ({ address: slowEim.publicAddress, port: HOST_PORT })));
    const socketB = await agentB.udpBind({ port: HOST_PORT });
    const edm = [
      await socketB.observeMapping({ host: server.address, port: UDP_PORT }),
      await socketB.observeMapping({ host: server.address, port: UDP_PORT_2 }),
    ];
    expect(edm.map((m) => m?.address)).toEqual([slowEdm.publicAddress, slowEdm.publicAddress]);
    expect(edm[0]?.port).not.toBe(edm[1]?.port);
    // Unsolicited inbound is still dropped: a stranger's datagram to the mapped port never arrives.
    const stranger = await agents[0]!.udpBind();
    await stranger.send({ host: slowEim.publicAddress, port: HOST_PORT }, 'unsolicited');
    expect(await socketA.receive({ timeoutMs: 4 * DELAY_MS })).toBeUndefined();
    const tcp = await agentA.tcpConnect({ host: server.address, port: TCP_PORT }, { timeoutMs: 3_000 });
    expect(tcp.outcome).toBe('connected');
    expect(JSON.parse(tcp.data ?? '{}')).toMatchObject({ address: slowEim.publicAddress });
  });
});
