/**
 * One chat: wait for the peer, talk, notice it leave or vanish, wait again. Typed lines are never lost
 * silently: while the peer is away they wait in a bounded queue, and a line the peer did not confirm
 * before the connection ended is sent again after reconnecting (the receiver drops duplicates).
 */
import { randomBytes } from 'node:crypto';
import { AnttError, type Connection, ErrorCode, formatAddress } from '@antt/core';
import type { ConnectionPath, TcpConnectionPath } from '@antt/nat';
import type { ChatOptions } from './cli-options.js';
import { FileProblem, IncomingFile, openForSending, sendFile } from './file-transfer.js';
import { clock, formatBytes, formatDuration, formatRtt } from './format.js';
import { describePath } from './meeting.js';
import { type ChatMessage, decodeMessage, encodeMessage, MAX_TEXT_CHARS } from './messages.js';
import type { Screen } from './screen.js';
import { describeProtection, remotePeerIdOf, type SecurityOptions } from './security.js';
import { type ConnectionPlan, releaseConnection } from './transport.js';
import { PeerWaiter } from './waiting.js';

/** Lines kept for a peer that is away; past this a line is refused, visibly. */
export const MAX_QUEUED_LINES = 100;
/** The connected line waits this long for the round-trip probe before printing without it. */
const RTT_PROBE_WAIT_MS = 2_000;
const CLOSE_TIMEOUT_MS = 3_000;
/** Ids of the peer's recent lines, to drop a line sent again after a reconnect. */
const SEEN_IDS_KEPT = 1_000;

interface Line {
  id: string;
  text: string;
}

export const COMMAND_HELP = [
  'Commands:',
  '  /help          this list',
  '  /status        connection state, transport, encryption, peer id, rtt, bytes',
  '  /send FILE     send a file (the peer saves it in its --downloads directory)',
  '  /quit          leave (also Ctrl-D or Ctrl-C); the peer sees "left"',
  '  //text         send a line that starts with "/"',
  'Anything else is sent as a message.',
].join('\n');

export class ChatSession {
  readonly #options: ChatOptions;
  readonly #plan: ConnectionPlan;
  readonly #myPeerId: string;
  readonly #screen: Screen;
  readonly #quit = new AbortController();
  readonly #waiter: PeerWaiter;
  readonly #idPrefix = randomBytes(6).toString('base64url');
  #lineCounter = 0;
  #exitCode = 0;

  #connection: Connection | undefined;
  #connectedAt = 0;
  #peerName = 'peer';
  #pingSentAt = 0;
  #rttMs: number | undefined;
  #announced = false;
  #everConnected = false;

  readonly #queue: Line[] = [];
  readonly #unacked = new Map<string, string>();
  readonly #seen = new Set<string>();
  #incoming: IncomingFile | undefined;
  #sending: string | undefined;
  #ignoredMessages = 0;

  constructor(
    options: ChatOptions,
    security: SecurityOptions,
    role: 'client' | 'server' | undefined,
    screen: Screen,
  ) {
    this.#options = options;
    this.#myPeerId = security.identity.peerId;
    this.#plan = {
      transport: options.transport,
      localPort: options.localPort,
      peer: options.peer,
      rendezvous: options.rendezvous,
      idleTimeoutMs: options.idleTimeoutMs,
      security,
      ...(role ? { role } : {}),
    };
    this.#screen = screen;
    this.#waiter = new PeerWaiter(options, this.#plan, (text) => this.#system(text), this.#quit.signal);
  }

  get quitting(): boolean {
    return this.#quit.signal.aborted;
  }

  /** Runs until /quit, Ctrl-C/D, or the peer never came. Resolves to the exit status. */
  async run(): Promise<number> {
    this.#system(`you are ${this.#options.name}, peer id ${this.#myPeerId}`);
    while (!this.quitting) {
      const connection = await this.#waitForPeer();
      if (!connection) break;
      await this.#converse(connection);
    }
    this.#reportUnsent();
    return this.#exitCode;
  }

  /** Graceful: closes the connection (the peer sees "left"). A second call while closing exits at once. */
  async quit(exitCode = 0): Promise<void> {
    if (this.quitting) return;
    this.#exitCode = exitCode;
    const connection = this.#connection;
    this.#quit.abort();
    if (connection && connection.state === 'open') {
      this.#system('leaving...');
      await connection.close({ timeout: CLOSE_TIMEOUT_MS }).catch(() => connection.destroy());
    }
  }

  /** A line the person typed. */
  handleInput(raw: string): void {
    const line = raw.replace(/\s+$/, '');
    if (line.trim() === '') return;
    if (line.startsWith('/') && !line.startsWith('//')) {
      this.#command(line);
      return;
    }
    this.#sendText(line.startsWith('//') ? line.slice(1) : line);
  }

  // ---- connecting ------------------------------------------------------------------------------

  async #waitForPeer(): Promise<Connection | undefined> {
    const outcome = await this.#waiter.wait();
    if (outcome === 'gave-up') {
      this.#exitCode = 1;
      this.#quit.abort();
      return undefined;
    }
    return outcome;
  }

  // ---- connected -------------------------------------------------------------------------------

  async #converse(connection: Connection): Promise<void> {
    this.#connection = connection;
    this.#connectedAt = performance.now();
    this.#peerName = 'peer';
    this.#rttMs = undefined;
    this.#announced = false;
    this.#pingSentAt = performance.now();
    this.#post({ kind: 'hello', name: this.#options.name });
    this.#post({ kind: 'ping', sentAt: this.#pingSentAt });
    const announceTimer = setTimeout(() => this.#announce(), RTT_PROBE_WAIT_MS);

    let ending: unknown;
    try {
      for await (const bytes of connection) await this.#onMessage(bytes);
    } catch (error) {
      ending = error;
    }
    clearTimeout(announceTimer);
    this.#connection = undefined;
    await releaseConnection(connection);
    await this.#incoming?.abort('the connection ended');
    this.#incoming = undefined;
    if (this.quitting) return;
    this.#system(this.#describeEnding(ending));
    if (this.#unacked.size > 0) {
      const count = this.#unacked.size;
      this.#queue.unshift(...[...this.#unacked].map(([id, text]) => ({ id, text })));
      this.#unacked.clear();
      this.#system(`${plural(count, 'line')} not confirmed by the peer: will send again when it is back`);
    }
  }

  #describeEnding(error: unknown): string {
    const who = this.#peerName;
    if (error === undefined) return `${who} left`;
    if (AnttError.is(error)) {
      if (error.code === ErrorCode.TIMEOUT) {
        return `${who} vanished (no answer for ${formatDuration(this.#options.idleTimeoutMs)})`;
      }
      if (error.code === ErrorCode.RESET) return `${who} dropped the connection abruptly`;
    }
    return `lost the connection to ${who}: ${error instanceof Error ? error.message : String(error)}`;
  }

  /** The one status line that says what the connection is. */
  #announce(): void {
    const connection = this.#connection;
    if (this.#announced || !connection) return;
    this.#announced = true;
    const peerId = remotePeerIdOf(connection);
    const rtt = this.#rttMs ?? connection.stats().rttMs;
    this.#system(
      `connected to ${this.#peerName} over ${connection.transport} (${describeProtection(connection)})${peerId ? `, peer id ${peerId}` : ''}, rtt ${formatRtt(rtt)}`,
    );
    if (!this.#everConnected) {
      this.#everConnected = true;
      this.#system('type a message and press Enter; /help lists commands');
    }
    this.#flushQueue();
  }

  async #onMessage(bytes: Uint8Array): Promise<void> {
    const message = decodeMessage(bytes);
    if (!message) {
      if (this.#ignoredMessages++ === 0) {
        this.#system('ignored a message this version does not understand (is the peer a different version?)');
      }
      return;
    }
    switch (message.kind) {
      case 'hello':
        this.#peerName = cleanForTerminal(message.name).slice(0, 32) || 'peer';
        return;
      case 'ping':
        this.#post({ kind: 'pong', sentAt: message.sentAt });
        return;
      case 'pong':
        if (message.sentAt === this.#pingSentAt) this.#rttMs = performance.now() - this.#pingSentAt;
        this.#announce();
        return;
      case 'text':
        this.#post({ kind: 'ack', id: message.id });
        if (this.#seen.has(message.id)) return;
        this.#remember(message.id);
        this.#screen.line(`${clock()} <${this.#peerName}> ${cleanForTerminal(message.text)}`);
        return;
      case 'ack':
        this.#unacked.delete(message.id);
        return;
      case 'file-result':
        this.#system(
          message.ok
            ? `${this.#peerName} ${cleanForTerminal(message.detail)}`
            : `${this.#peerName} could not save the file: ${cleanForTerminal(message.detail)}`,
        );
        return;
      default:
        await this.#onFileMessage(message);
    }
  }

  async #onFileMessage(message: ChatMessage): Promise<void> {
    try {
      if (message.kind === 'file-start') {
        await this.#incoming?.abort('the peer started another file');
        this.#incoming = undefined;
        this.#system(
          `${this.#peerName} is sending ${cleanForTerminal(message.name)} (${formatBytes(message.size)})`,
        );
        this.#incoming = await IncomingFile.create(
          this.#options.downloads,
          message.name,
          message.size,
          this.#screen,
        );
      } else if (message.kind === 'file-chunk') {
        await this.#incoming?.write(message.bytes);
      } else if (message.kind === 'file-end' && this.#incoming) {
        const incoming = this.#incoming;
        this.#incoming = undefined;
        const result = await incoming.finish(message.sha256);
        this.#post({ kind: 'file-result', ...result });
      }
    } catch (error) {
      const detail = error instanceof FileProblem ? error.message : `could not save: ${String(error)}`;
      this.#system(detail);
      await this.#incoming?.abort(detail);
      this.#incoming = undefined;
      this.#post({ kind: 'file-result', ok: false, detail });
    }
  }

  // ---- typing ----------------------------------------------------------------------------------

  #sendText(text: string): void {
    if (text.length > MAX_TEXT_CHARS) {
      this.#system(
        `not sent: a line may have at most ${MAX_TEXT_CHARS} characters (use /send for longer texts)`,
      );
      return;
    }
    const mine = `${clock()} <${this.#options.name}> ${cleanForTerminal(text)}`;
    const line = { id: `${this.#idPrefix}.${++this.#lineCounter}`, text };
    if (this.#isOpen()) {
      this.#screen.line(mine);
      this.#transmit(line);
      return;
    }
    if (this.#queue.length >= MAX_QUEUED_LINES) {
      this.#screen.line(`${mine}   (NOT sent: ${MAX_QUEUED_LINES} lines already wait for the peer)`);
      return;
    }
    this.#queue.push(line);
    this.#screen.line(`${mine}   (queued: will send when the peer is here)`);
  }

  #transmit(line: Line): void {
    this.#unacked.set(line.id, line.text);
    this.#post({ kind: 'text', id: line.id, text: line.text });
  }

  #flushQueue(): void {
    if (this.#queue.length === 0) return;
    const lines = this.#queue.splice(0);
    for (const line of lines) this.#transmit(line);
    this.#system(`sent ${plural(lines.length, 'queued line')}`);
  }

  #command(line: string): void {
    const [name = ''] = line.split(/\s+/);
    const argument = line.slice(name.length).trim();
    this.#screen.line(`> ${line}`);
    switch (name) {
      case '/help':
      case '/?':
        this.#screen.line(COMMAND_HELP);
        return;
      case '/quit':
      case '/exit':
        void this.quit(0);
        return;
      case '/status':
        this.#screen.line(this.#status());
        return;
      case '/send':
        if (argument === '') this.#system('/send needs a file: /send FILE');
        else void this.#sendFile(argument);
        return;
      default:
        this.#system(`unknown command ${name}; /help lists commands (start a line with // to send a "/")`);
    }
  }

  async #sendFile(argument: string): Promise<void> {
    const path = unquote(argument);
    const connection = this.#connection;
    if (!connection || !this.#isOpen()) {
      this.#system('/send works only while the peer is connected; files are not queued');
      return;
    }
    if (this.#sending) {
      this.#system(`/send: still sending ${this.#sending}; one file at a time`);
      return;
    }
    this.#sending = path;
    try {
      const opened = await openForSending(expandHome(path));
      await sendFile(connection, path, opened, this.#screen);
    } catch (error) {
      if (error instanceof FileProblem) this.#system(`/send: ${error.message}`);
      else if (!this.quitting) {
        this.#system(
          `/send ${path}: ${error instanceof Error ? error.message : String(error)}; send it again when the peer is back`,
        );
      }
    } finally {
      this.#sending = undefined;
    }
  }

  #status(): string {
    const { peerText, transport, localPort } = this.#options;
    const connection = this.#connection;
    const lines: string[] = [];
    if (connection && this.#isOpen()) {
      const stats = connection.stats();
      const path = (connection as { path?: ConnectionPath | TcpConnectionPath }).path;
      const remote = connection.remoteAddress ? formatAddress(connection.remoteAddress) : peerText;
      lines.push(
        `state:       connected to ${this.#peerName} at ${remote} for ${formatDuration(performance.now() - this.#connectedAt)}`,
        `transport:   ${connection.transport} from local port ${path?.local.port ?? localPort}, ${describeProtection(connection)}`,
        ...(path ? [`path:        ${describePath(path).replace(/^path: /, '')}`] : []),
        ...(path?.kind === 'relayed' ? [`relayed:     ${path.reason}`] : []),
        `peer id:     ${remotePeerIdOf(connection) ?? 'unknown (not authenticated)'}`,
        `rtt:         ${formatRtt(stats.rttMs ?? this.#rttMs)}${stats.minRttMs !== undefined ? ` (min ${formatRtt(stats.minRttMs)})` : ''}`,
        `sent:        ${plural(stats.messagesSent, 'message')}, ${formatBytes(stats.bytesSent)}`,
        `received:    ${plural(stats.messagesReceived, 'message')}, ${formatBytes(stats.bytesReceived)}`,
      );
      if (stats.retransmissions !== undefined)
        lines.push(`resent:      ${plural(stats.retransmissions, 'packet')}`);
    } else {
      lines.push(
        `state:       waiting for ${this.#options.rendezvous ? '' : 'peer '}${peerText} over ${transport} for ${formatDuration(performance.now() - this.#waiter.waitingSince)}`,
      );
    }
    lines.push(
      `queued:      ${plural(this.#queue.length, 'line')} waiting for the peer`,
      `you:         ${this.#options.name}, peer id ${this.#myPeerId}`,
    );
    return lines.join('\n');
  }

  // ---- helpers ---------------------------------------------------------------------------------

  #isOpen(): boolean {
    return this.#connection?.state === 'open';
  }

  /** Fire and forget: a failed send means the connection ended, which #converse reports. */
  #post(message: ChatMessage): void {
    const connection = this.#connection;
    if (connection?.state !== 'open') return;
    connection.send(encodeMessage(message)).catch(() => {});
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > SEEN_IDS_KEPT) this.#seen.delete(this.#seen.values().next().value!);
  }

  #system(text: string): void {
    this.#screen.line(`${clock()} -- ${text}`);
  }

  #reportUnsent(): void {
    const unsent = [...this.#queue.map((line) => line.text), ...this.#unacked.values()];
    if (unsent.length === 0) return;
    this.#system(`${plural(unsent.length, 'line')} never reached the peer:`);
    for (const text of unsent) this.#screen.line(`   ${cleanForTerminal(text)}`);
  }
}

/** Text from the peer must not move the cursor or recolour the terminal. */
export function cleanForTerminal(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, (char) => (char === '\t' ? '    ' : '?'));
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function unquote(text: string): string {
  const match = /^(["'])(.*)\1$/.exec(text);
  return match ? match[2]! : text;
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? `${process.env.HOME ?? ''}${path.slice(1)}` : path;
}
