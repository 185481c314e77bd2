/**
 * The shell as a person uses it: `serve` and `connect` run in real terminals (tmux), keys are typed and
 * the screens read. Over UDP: commands and exit codes, Ctrl-C, refusals outside the root (and the server's
 * log of them), a 100 MB put and get with equal SHA-256 and bounded memory, a wrong passphrase refused
 * and logged, --no-exec; peer ids instead of a passphrase (allowed, not allowed, server id checked).
 * Over TCP: a smaller round trip.
 */
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RendezvousServer } from '@antt/nat';
import { Identity } from '@antt/secure';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, peakRssBytes, randomFile, requireBuilt, sha256File, shell } from './helpers.js';
import { Tmux } from './tmux.js';

const BIG_FILE_BYTES = 100 * 1024 * 1024;
const SMALL_FILE_BYTES = 8 * 1024 * 1024;
/** Peak resident memory allowed to each process during the 100 MB transfers. */
const PEAK_RSS_LIMIT_BYTES = 150 * 1024 * 1024;
const PASSPHRASE = 'correct horse battery staple';
const PROMPT = /antt:\.>\s*$/;
/** What both sides print once met through a rendezvous: the path, the candidate, each stage's time. */
const RENDEZVOUS_PATH =
  /path: direct to [\d.]+:\d+ \(the peer's (LAN|public) address[^)]*\); connected in [\d.]+ m?s \(register [\d.]+ m?s, waiting for the peer [\d.]+ m?s, punch [\d.]+ m?s, handshake [\d.]+ m?s\)/;

let dir: string;
const tmux = new Tmux();

beforeAll(async () => {
  requireBuilt();
  dir = mkdtempSync(join(tmpdir(), 'antt-shell-e2e-'));
  for (const sub of ['root/sub', 'client', 'ids']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'root/hello.txt'), 'hello from the root\n');
  symlinkSync('/etc/passwd', join(dir, 'root/passwd-link'));
  symlinkSync('/etc', join(dir, 'root/etc-link'));
  await randomFile(join(dir, 'client/big.bin'), BIG_FILE_BYTES);
  await randomFile(join(dir, 'client/small.bin'), SMALL_FILE_BYTES);
});

afterAll(() => {
  tmux.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Pair {
  server: string;
  client: string;
}

let sessions = 0;

/** Starts a server and a client on fresh loopback ports; resolves once the client shows its prompt. */
async function startPair(
  transport: 'udp' | 'tcp',
  serverArgs: string[] = [],
  clientArgs: string[] = ['--passphrase', PASSPHRASE],
  expectPrompt = true,
  serverAuth: string[] = ['--passphrase', PASSPHRASE, '--identity', join(dir, 'ids/server.json')],
): Promise<Pair> {
  const [serverPort, clientPort] = [await freePort(), await freePort()];
  const n = ++sessions;
  const pair = { server: `server${n}`, client: `client${n}` };
  tmux.start(
    pair.server,
    shell(
      'serve',
      ...['--port', `${serverPort}`, '--peer', `127.0.0.1:${clientPort}`, '--transport', transport],
      ...['--root', join(dir, 'root')],
      ...serverAuth,
      ...serverArgs,
    ),
    join(dir, 'root'),
  );
  await tmux.waitFor(pair.server, 'waiting for', 10_000);
  tmux.start(
    pair.client,
    shell(
      'connect',
      ...['--port', `${clientPort}`, '--peer', `127.0.0.1:${serverPort}`, '--transport', transport],
      ...['--identity', join(dir, 'ids/client.json')],
      ...clientArgs,
    ),
    join(dir, 'client'),
  );
  if (expectPrompt) await tmux.waitFor(pair.client, PROMPT, 20_000);
  return pair;
}

/** Types a line in the client and waits for `expected` in what follows. */
async function typeAndWait(
  pair: Pair,
  line: string,
  expected: RegExp | string,
  timeoutMs = 10_000,
): Promise<string> {
  const since = tmux.mark(pair.client);
  tmux.type(pair.client, line);
  return tmux.waitFor(pair.client, expected, timeoutMs, since);
}

describe('over UDP', () => {
  let pair: Pair;

  beforeAll(async () => {
    pair = await startPair('udp');
  }, 40_000);

  it('prints its commands on start and on help', async () => {
    const start = tmux.screen(pair.client);
    for (const command of [
      'cd [DIR]',
      'pwd',
      'ls [PATH]',
      'get REMOTE [LOCAL]',
      'put LOCAL [REMOTE]',
      'exit',
    ]) {
      expect(start).toContain(command);
    }
    const help = await typeAndWait(pair, 'help', /exit\s+leave/);
    expect(help).toContain('get REMOTE [LOCAL]');
  });

  it('runs a command and shows its output and exit code', async () => {
    const out = await typeAndWait(pair, 'echo hello', /\[exit 0\]/);
    expect(out).toMatch(/^hello$/m);
    const failed = await typeAndWait(pair, "sh -c 'echo oops >&2; exit 3'", /\[exit 3\]/);
    expect(failed).toContain('oops');
  });

  it('streams output live and interrupts with Ctrl-C', async () => {
    const since = tmux.mark(pair.client);
    tmux.type(pair.client, 'echo first; sleep 30; echo never');
    await tmux.waitFor(pair.client, /^first$/m, 10_000, since);
    tmux.key(pair.client, 'C-c');
    const out = await tmux.waitFor(pair.client, /\[(killed by SIGINT|exit 130)\]/, 10_000, since);
    expect(out).not.toMatch(/^never$/m);
  });

  it('moves around with cd, pwd and ls', async () => {
    await typeAndWait(pair, 'cd sub', /antt:sub>\s*$/);
    await typeAndWait(pair, 'pwd', /^sub {2}\(inside the served root/m);
    await typeAndWait(pair, 'cd ..', PROMPT);
    const listing = await typeAndWait(pair, 'ls', /hello\.txt/);
    expect(listing).toMatch(/sub\//);
    expect(listing).toMatch(/passwd-link@/);
  });

  it('refuses paths outside the root, and the server logs each refusal with the peer', async () => {
    const refusals: [string, RegExp][] = [
      ['get ../../etc/passwd', /refused: \.\.\/\.\.\/etc\/passwd is outside the served root/],
      ['get /etc/passwd', /refused: \/etc\/passwd is outside the served root/],
      ['get passwd-link', /refused: passwd-link leads outside the served root \(symlink\)/],
      ['cd etc-link', /refused: etc-link leads outside the served root \(symlink\)/],
      ['ls ..', /refused: \.\. is outside the served root/],
      ['put small.bin etc-link/small.bin', /refused: etc-link\/small\.bin leads outside the served root/],
    ];
    for (const [line, message] of refusals) {
      const since = tmux.mark(pair.server);
      await typeAndWait(pair, line, message);
      const log = await tmux.waitFor(pair.server, /refused/, 5_000, since);
      expect(log).toMatch(/^\S+Z \[.*127\.0\.0\.1:\d+.*\] refused /m);
    }
  });

  it('puts and gets a 100 MB file with equal SHA-256, in bounded memory', async () => {
    const original = await sha256File(join(dir, 'client/big.bin'));
    const put = await typeAndWait(
      pair,
      'put big.bin',
      /put big\.bin: .*sha256 ok|sha256 mismatch|failed/,
      90_000,
    );
    expect(put).toContain(`sha256 ok (${original})`);
    expect(await sha256File(join(dir, 'root/big.bin'))).toBe(original);

    const get = await typeAndWait(
      pair,
      'get big.bin copy.bin',
      /get big\.bin: .*sha256 ok|mismatch|failed/,
      90_000,
    );
    expect(get).toContain(`sha256 ok (${original})`);
    expect(await sha256File(join(dir, 'client/copy.bin'))).toBe(original);
    expect(() => statSync(join(dir, 'client/copy.bin.part'))).toThrow();

    expect(peakRssBytes(tmux.pid(pair.server))).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
    expect(peakRssBytes(tmux.pid(pair.client))).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
  }, 200_000);

  it('leaves with exit, and the server waits for the next client', async () => {
    const since = tmux.mark(pair.server);
    tmux.type(pair.client, 'exit');
    expect(await tmux.waitForExit(pair.client, 10_000)).toBe(0);
    await tmux.waitFor(pair.server, /session closed by the client[\s\S]*waiting for/, 10_000, since);
  });

  it('refuses a client with the wrong passphrase, and logs it', async () => {
    const since = tmux.mark(pair.server);
    const n = ++sessions;
    const intruder = `intruder${n}`;
    const serverLine = tmux.screen(pair.server);
    const ports = /on port (\d+)/.exec(serverLine)!;
    const peer = /waiting for 127\.0\.0\.1:(\d+)/.exec(serverLine)!;
    tmux.start(
      intruder,
      shell(
        'connect',
        ...['--port', peer[1]!, '--peer', `127.0.0.1:${ports[1]}`, '--passphrase', 'wrong guess'],
        ...['--identity', join(dir, 'ids/intruder.json')],
      ),
      join(dir, 'client'),
    );
    expect(await tmux.waitForExit(intruder, 25_000)).toBe(1);
    const screen = tmux.screen(intruder);
    expect(screen).toMatch(
      /^antt-shell: refused: the server's passphrase is not this one \(wrong passphrase on one side\)$/m,
    );
    expect(screen).not.toMatch(/antt:\.>|\n\s+at /);
    // With a wrong passphrase the peer never proves an id, so the log says so.
    await tmux.waitFor(
      pair.server,
      /^\S+Z \[peer id unknown 127\.0\.0\.1:\d+\] refused: wrong passphrase \(the client's is not this server's\)$/m,
      10_000,
      since,
    );
  }, 40_000);
});

describe('with peer ids instead of a passphrase', () => {
  let pair: Pair;
  let serverId: string;
  let clientId: string;

  beforeAll(async () => {
    clientId = (await Identity.loadOrCreate(join(dir, 'ids/client.json'))).peerId;
    serverId = (await Identity.loadOrCreate(join(dir, 'ids/server-by-id.json'))).peerId;
    pair = await startPair('udp', [], ['--peer-id', serverId], true, [
      ...['--allow', clientId, '--identity', join(dir, 'ids/server-by-id.json')],
    ]);
  }, 40_000);

  it('lets in an allowed client that checked the server id, and logs its peer id', () => {
    expect(tmux.screen(pair.server)).toContain(`this server's peer id is ${serverId}`);
    expect(tmux.screen(pair.server)).toMatch(
      new RegExp(`\\[${clientId} 127\\.0\\.0\\.1:\\d+\\] session opened \\(udp, encrypted\\)`),
    );
    expect(tmux.screen(pair.client)).toContain(
      `(encrypted; server peer id ${serverId}, checked against --peer-id)`,
    );
  });

  it('works, then leaves', async () => {
    await typeAndWait(pair, 'echo by id', /^by id$[\s\S]*\[exit 0\]/m);
    const since = tmux.mark(pair.server);
    tmux.type(pair.client, 'exit');
    expect(await tmux.waitForExit(pair.client, 10_000)).toBe(0);
    await tmux.waitFor(pair.server, /session closed by the client[\s\S]*waiting for/, 10_000, since);
  });

  /** Starts a client on the paired client's port against the waiting server; resolves to its screen. */
  async function intrude(identity: string, args: string[]): Promise<string> {
    const serverScreen = tmux.screen(pair.server);
    const serverPort = /on port (\d+)/.exec(serverScreen)![1]!;
    const clientPort = /waiting for 127\.0\.0\.1:(\d+)/.exec(serverScreen)![1]!;
    const name = `intruder${++sessions}`;
    tmux.start(
      name,
      shell(
        'connect',
        ...['--port', clientPort, '--peer', `127.0.0.1:${serverPort}`, '--identity', join(dir, identity)],
        ...args,
      ),
      join(dir, 'client'),
    );
    expect(await tmux.waitForExit(name, 25_000)).toBe(1);
    return tmux.screen(name);
  }

  it('refuses a client whose peer id is not allowed, and logs that id', async () => {
    const strangerId = (await Identity.loadOrCreate(join(dir, 'ids/stranger.json'))).peerId;
    const since = tmux.mark(pair.server);
    const screen = await intrude('ids/stranger.json', ['--peer-id', serverId]);
    expect(screen).toContain(
      `antt-shell: refused by the server: our peer id is not in the server's allowed list (this side's peer id is ${strangerId})`,
    );
    expect(screen).not.toMatch(/antt:\.>|\n\s+at /);
    await tmux.waitFor(
      pair.server,
      `[${strangerId} 127.0.0.1:${/waiting for 127\.0\.0\.1:(\d+)/.exec(tmux.screen(pair.server))![1]}] refused: handshake failed: peer id ${strangerId} is not in the allowed list`,
      10_000,
      since,
    );
  }, 40_000);

  it('a client with a passphrase the server does not take is told so, and it is logged', async () => {
    const since = tmux.mark(pair.server);
    const screen = await intrude('ids/client.json', ['--peer-id', serverId, '--passphrase', PASSPHRASE]);
    expect(screen).toContain(
      'antt-shell: refused: the server takes no passphrase (it allows clients by peer id): connect with --peer-id only',
    );
    await tmux.waitFor(
      pair.server,
      /\] refused: the client gave a passphrase, this server takes none \(it allows by peer id\)$/m,
      10_000,
      since,
    );
  }, 40_000);

  it('a client given another --peer-id refuses the server', async () => {
    const since = tmux.mark(pair.server);
    const screen = await intrude('ids/client.json', ['--peer-id', clientId]);
    expect(screen).toContain(
      `antt-shell: refused the server: its peer id is ${serverId}, not the --peer-id given here`,
    );
    await tmux.waitFor(pair.server, /the client refused this server/, 10_000, since);
  }, 40_000);
});

describe('with --no-exec', () => {
  it('refuses commands but serves files', async () => {
    const pair = await startPair('udp', ['--no-exec']);
    expect(tmux.screen(pair.client)).toContain('commands are off');
    const since = tmux.mark(pair.server);
    await typeAndWait(pair, 'echo hi', /refused: this server does not run commands/);
    await tmux.waitFor(pair.server, /refused run "echo hi": commands are off \(--no-exec\)/, 5_000, since);
    await typeAndWait(pair, 'get hello.txt', /get hello\.txt: .*sha256 ok/);
    tmux.type(pair.client, 'exit');
    expect(await tmux.waitForExit(pair.client, 10_000)).toBe(0);
  }, 40_000);
});

describe('over TCP', () => {
  it('puts and gets a file with equal SHA-256', async () => {
    const pair = await startPair('tcp');
    const original = await sha256File(join(dir, 'client/small.bin'));
    await typeAndWait(pair, 'cd sub', /antt:sub>\s*$/);
    const put = await typeAndWait(pair, 'put small.bin', /sha256 ok|mismatch|failed/, 30_000);
    expect(put).toContain(`sha256 ok (${original})`);
    const get = await typeAndWait(pair, 'get small.bin small-copy.bin', /sha256 ok|mismatch|failed/, 30_000);
    expect(get).toContain(`sha256 ok (${original})`);
    expect(await sha256File(join(dir, 'client/small-copy.bin'))).toBe(original);
    await typeAndWait(pair, 'echo over tcp', /over tcp[\s\S]*\[exit 0\]/);
    tmux.type(pair.client, 'exit');
    expect(await tmux.waitForExit(pair.client, 10_000)).toBe(0);
  }, 60_000);
});

describe('through a rendezvous server', () => {
  it('serve and connect meet by name, say the path, run a command; a wrong passphrase does not block the next client', async () => {
    const rendezvous = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    try {
      const at = `127.0.0.1:${rendezvous.address.port}`;
      const meet = ['--rendezvous', at, '--name', 'office'];
      const n = ++sessions;
      const pair = { server: `server${n}`, client: `client${n}` };
      tmux.start(
        pair.server,
        shell('serve', ...meet, '--root', join(dir, 'root'), '--passphrase', PASSPHRASE),
        join(dir, 'root'),
      );
      await tmux.waitFor(
        pair.server,
        `waiting for "office" at rendezvous ${at} (there: antt-shell connect --rendezvous ${at} --name office ...)`,
        10_000,
      );
      // A client with the wrong passphrase is refused, and its failed meeting leaves the name free.
      const intruder = `intruder${n}`;
      tmux.start(intruder, shell('connect', ...meet, '--passphrase', 'a wrong guess'), join(dir, 'client'));
      await tmux.waitFor(intruder, "refused: the server's passphrase is not this one", 20_000);
      expect(await tmux.waitForExit(intruder, 10_000)).toBe(1);
      await tmux.waitFor(pair.server, /refused: wrong passphrase/, 10_000);

      tmux.start(
        pair.client,
        shell('connect', ...meet, '--identity', join(dir, 'ids/client.json'), '--passphrase', PASSPHRASE),
        join(dir, 'client'),
      );
      await tmux.waitFor(pair.client, PROMPT, 20_000);
      const screen = tmux.screen(pair.client);
      expect(screen).toContain(`meeting the server "office" at rendezvous ${at} over udp ...`);
      expect(screen).toMatch(RENDEZVOUS_PATH);
      expect(screen).toMatch(/connected to "office" over udp \(encrypted; server peer id /);
      await tmux.waitFor(pair.server, RENDEZVOUS_PATH, 5_000);
      const out = await typeAndWait(pair, 'echo met by name', /\[exit 0\]/);
      expect(out).toMatch(/^met by name$/m);
      tmux.type(pair.client, 'exit');
      expect(await tmux.waitForExit(pair.client, 10_000)).toBe(0);
    } finally {
      await rendezvous.close();
    }
  }, 60_000);

  it('over tcp too: serve and connect meet by name and run a command', async () => {
    const rendezvous = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    try {
      const at = `127.0.0.1:${rendezvous.address.port}`;
      const meet = [
        '--rendezvous',
        at,
        '--name',
        'tcp-office',
        '--transport',
        'tcp',
        '--passphrase',
        PASSPHRASE,
      ];
      const n = ++sessions;
      const pair = { server: `server${n}`, client: `client${n}` };
      tmux.start(pair.server, shell('serve', ...meet, '--root', join(dir, 'root')), join(dir, 'root'));
      await tmux.waitFor(pair.server, 'waiting for "tcp-office"', 10_000);
      tmux.start(
        pair.client,
        shell('connect', ...meet, '--identity', join(dir, 'ids/client.json')),
        join(dir, 'client'),
      );
      await tmux.waitFor(pair.client, PROMPT, 20_000);
      expect(tmux.screen(pair.client)).toMatch(
        /path: direct to [\d.]+:\d+ .*open and handshake [\d.]+ m?s\)/,
      );
      expect(tmux.screen(pair.client)).toMatch(/connected to "tcp-office" over tcp \(encrypted;/);
      const out = await typeAndWait(pair, 'echo met over tcp', /\[exit 0\]/);
      expect(out).toMatch(/^met over tcp$/m);
      tmux.type(pair.client, 'exit');
      expect(await tmux.waitForExit(pair.client, 10_000)).toBe(0);
    } finally {
      await rendezvous.close();
    }
  }, 60_000);

  it('a server whose rendezvous does not answer logs the register stage, and stops at --connect-timeout saying so', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    try {
      const at = `127.0.0.1:${silent.address().port}`;
      const name = `unheard${++sessions}`;
      tmux.start(
        name,
        shell('serve', '--rendezvous', at, '--name', 'office', '--passphrase', 'x', '--connect-timeout', '3'),
        join(dir, 'root'),
      );
      expect(await tmux.waitForExit(name, 20_000)).toBe(1);
      const log = tmux.screen(name);
      expect(log).toMatch(
        new RegExp(
          `could not connect \\(register stage\\): rendezvous server ${at.replace(/\./g, '\\.')} unreachable: no answer to \\d+ REGISTER requests`,
        ),
      );
      expect(log).toContain(
        `the rendezvous server ${at} did not answer within --connect-timeout 3 s; stopping`,
      );
    } finally {
      silent.close();
    }
  }, 30_000);

  it('a client whose server never registers: one line naming the exchange stage, exit 1', async () => {
    const rendezvous = await RendezvousServer.listen({ host: '127.0.0.1', port: 0 });
    try {
      const at = `127.0.0.1:${rendezvous.address.port}`;
      const name = `lonely${++sessions}`;
      tmux.start(
        name,
        shell(
          'connect',
          '--rendezvous',
          at,
          '--name',
          'nobody',
          '--passphrase',
          'x',
          '--connect-timeout',
          '2',
        ),
        join(dir, 'client'),
      );
      expect(await tmux.waitForExit(name, 15_000)).toBe(1);
      expect(tmux.screen(name)).toContain(
        `antt-shell: no server came to "nobody" at rendezvous ${at} within 2 s (exchange stage): is \`antt-shell serve --rendezvous ${at} --name nobody\` running?`,
      );
    } finally {
      await rendezvous.close();
    }
  }, 30_000);
});
