/**
 * `antt-shell connect`: connect to the server, print the commands, and read lines until `exit` or Ctrl-D.
 * One request runs at a time; Ctrl-C interrupts the running command (again: SIGTERM, then SIGKILL) or
 * cancels a transfer, and at the prompt clears the line.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { AnttError, type Connection, ErrorCode, formatAddress } from '@antt/core';
import type { Identity } from '@antt/secure';
import {
  type ConnectConfig,
  DEFAULT_CLIENT_CONNECT_TIMEOUT_S,
  describeFsError,
  PROGRAM,
  type RendezvousTarget,
} from './cli.js';
import { openConnection, pathOf, peerInfo } from './connection.js';
import { formatBytes, splitWords, WordsError } from './format.js';
import { greetServer, RefusedError, type WelcomeInfo } from './greeting.js';
import {
  describeMeeting,
  describePath,
  describeStageFailure,
  otherSideOptions,
  STAGE_PREFIX,
  stageOf,
} from './meeting.js';
import { Progress } from './progress.js';
import {
  bytes,
  CHUNK_BYTES,
  decode,
  encode,
  integer,
  type Message,
  ProtocolMessageError,
  text,
} from './protocol.js';

const INTERRUPT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;

export function commandsHelp(exec: boolean): string {
  return [
    'Commands:',
    exec
      ? '  <command line>       run it on the server (sh, in the current directory); output streams back live,'
      : '  <command line>       (commands are off on this server: it was started with --no-exec)',
    ...(exec
      ? ['                       then [exit N]; Ctrl-C interrupts it. `run ls -l` or `!ls -l` also work']
      : []),
    '  cd [DIR]             change the server directory (no DIR: back to the served root)',
    '  pwd                  show the server directory',
    '  ls [PATH]            list a server directory (or show one file)',
    '  get REMOTE [LOCAL]   download a file; progress, SHA-256 check, LOCAL defaults to the same name here',
    '  put LOCAL [REMOTE]   upload a file; progress, SHA-256 check, REMOTE defaults to the same name there',
    '  help                 show this list',
    '  exit                 leave (Ctrl-D too); the server waits for the next session',
    'Server paths are relative to its current directory and never leave the served root. Ctrl-C cancels a',
    'transfer; a cancelled or failed transfer leaves no file behind. Quote names with spaces: get "a b.txt".',
  ].join('\n');
}

export interface ClientIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
}

export async function connectShell(config: ConnectConfig, identity: Identity, io: ClientIo): Promise<number> {
  const say = (line: string): void => void io.stdout.write(`${line}\n`);
  const complain = (line: string): void => void io.stderr.write(`${line}\n`);
  const peer = config.rendezvous ? describeMeeting(config.rendezvous) : formatAddress(config.peer!);
  const timeoutMs = config.connectTimeoutMs ?? DEFAULT_CLIENT_CONNECT_TIMEOUT_S * 1000;
  say(`${PROGRAM} connect: peer id ${identity.peerId} (identity ${config.identityPath})`);
  say(
    config.rendezvous
      ? `meeting the server ${peer} over ${config.transport} ...`
      : `connecting to ${peer} over ${config.transport} from port ${config.port} ...`,
  );
  const aborter = new AbortController();
  const onEarlyInterrupt = (): void => aborter.abort();
  process.once('SIGINT', onEarlyInterrupt);
  let connection: Connection;
  let welcome: WelcomeInfo;
  try {
    connection = await openConnection({
      mode: 'connect',
      transport: config.transport,
      localPort: config.port,
      peer: config.peer,
      rendezvous: config.rendezvous,
      security: {
        identity,
        passphrase: config.passphrase,
        allowedPeers: config.serverPeerId ? [config.serverPeerId] : [],
      },
      timeoutMs,
      signal: aborter.signal,
    });
  } catch (error) {
    if (aborter.signal.aborted) return 130;
    complain(`${PROGRAM}: ${connectFailure(error, config, timeoutMs)}`);
    return 1;
  } finally {
    process.off('SIGINT', onEarlyInterrupt);
  }
  try {
    welcome = await greetServer(connection);
  } catch (error) {
    complain(
      `${PROGRAM}: ${error instanceof RefusedError ? error.message : `no session: ${(error as Error).message}`}`,
    );
    await connection.close({ timeout: 2_000 }).catch(() => connection.destroy());
    return 1;
  }
  const checked = config.serverPeerId !== undefined ? 'checked against --peer-id' : 'knows the passphrase';
  const path = pathOf(connection);
  if (path) say(describePath(path));
  say(
    `connected to ${config.rendezvous ? `"${config.rendezvous.peerName ?? config.rendezvous.name}"` : peer} over ${config.transport} (encrypted; server peer id ${peerInfo(connection).peerId ?? 'unknown'}, ${checked})`,
  );
  say(`serving ${welcome.root} on the server; commands ${welcome.exec ? 'allowed' : 'off (--no-exec)'}`);
  say('');
  say(commandsHelp(welcome.exec));
  return new Shell(connection, welcome, io).run();
}

function connectFailure(error: unknown, config: ConnectConfig, timeoutMs: number): string {
  if (config.rendezvous) return meetingFailure(error, config, config.rendezvous, timeoutMs);
  const peer = formatAddress(config.peer!);
  if (AnttError.is(error) && error.code === ErrorCode.TIMEOUT) {
    return `no answer from ${peer} within ${timeoutMs / 1000} s: is \`${PROGRAM} serve --port ${config.peer!.port} --peer <this host>:${config.port} --transport ${config.transport}\` running there?`;
  }
  if (AnttError.is(error) && error.code === ErrorCode.AUTH)
    return describeAuthFailure(error.message, config.passphrase !== undefined);
  return `cannot connect to ${peer}: ${(error as Error).message}`;
}

/** Through the rendezvous: the stage that failed, in one line; a server that never came, with the fix. */
function meetingFailure(
  error: unknown,
  config: ConnectConfig,
  target: RendezvousTarget,
  timeoutMs: number,
): string {
  if (AnttError.is(error) && error.code === ErrorCode.AUTH)
    return describeAuthFailure(error.message, config.passphrase !== undefined);
  if (AnttError.is(error) && error.code === ErrorCode.TIMEOUT && stageOf(error) === 'exchange') {
    return `no server came to ${describeMeeting(target)} within ${timeoutMs / 1000} s (exchange stage): is \`${PROGRAM} serve ${otherSideOptions(target)}\` running?`;
  }
  return describeStageFailure(error);
}

export const PASSPHRASE_MISMATCH = /(did not prove it knows|did not prove we know) the passphrase/;
/** The transports' words, from either side, for a passphrase given on one side only. */
export const PASSPHRASE_ON_ONE_SIDE =
  /uses a passphrase but none is configured here|a passphrase is configured here but the peer did not use one|one side is configured with a passphrase and the other is not/;

/** The transport's handshake error, said from the client's side in one line. */
export function describeAuthFailure(message: string, withPassphrase: boolean): string {
  const reason = message
    .replace(STAGE_PREFIX, '')
    .replace(/^the security handshake with (?:the peer )?\S+ failed: /, '');
  // Either side may be the one that notices (over UDP the roles come from random connection ids).
  if (PASSPHRASE_MISMATCH.test(reason)) {
    return "refused: the server's passphrase is not this one (wrong passphrase on one side)";
  }
  if (PASSPHRASE_ON_ONE_SIDE.test(reason)) {
    return withPassphrase
      ? 'refused: the server takes no passphrase (it allows clients by peer id): connect with --peer-id only'
      : 'refused: the server requires a passphrase: add --passphrase (or --passphrase-file)';
  }
  const rejected = /^the peer rejected the handshake: (.*)$/.exec(reason)?.[1];
  if (rejected !== undefined)
    return `refused by the server: ${rejected.replace(/\bits allowed list\b/, "the server's allowed list")}`;
  const id = /^peer id (\S+) is not in the allowed list/.exec(reason)?.[1];
  if (id !== undefined) return `refused the server: its peer id is ${id}, not the --peer-id given here`;
  return `authentication failed: ${reason}`;
}

/** Ends the current request early: Ctrl-C while it runs. */
type Interrupt = () => void;

class Shell {
  readonly #connection: Connection;
  readonly #welcome: WelcomeInfo;
  readonly #io: ClientIo;
  #cwd: string;
  #nextId = 1;
  #interrupt: Interrupt | undefined;
  #lost: Error | undefined;

  constructor(connection: Connection, welcome: WelcomeInfo, io: ClientIo) {
    this.#connection = connection;
    this.#welcome = welcome;
    this.#io = io;
    this.#cwd = welcome.cwd;
  }

  async run(): Promise<number> {
    const tty = Boolean(this.#io.stdin.isTTY && this.#io.stdout.isTTY);
    const lines = createInterface({
      input: this.#io.stdin,
      output: this.#io.stdout,
      terminal: tty,
      historySize: 1000,
    });
    const onInterrupt = (): void => {
      if (this.#interrupt) {
        this.#interrupt();
        return;
      }
      if (!tty) return void lines.close();
      lines.write(null, { ctrl: true, name: 'e' });
      lines.write(null, { ctrl: true, name: 'u' });
      this.#io.stdout.write('^C (exit or Ctrl-D leaves)\n');
      this.#prompt(lines, tty);
    };
    lines.on('SIGINT', onInterrupt);
    process.on('SIGINT', onInterrupt);
    const onClose = (error: Error | undefined): void => {
      this.#lost = error ?? new Error('the server closed the connection');
      if (!this.#interrupt) lines.close();
    };
    this.#connection.on('close', onClose);
    this.#prompt(lines, tty);
    try {
      for await (const line of lines) {
        if (this.#lost) break;
        const leave = await this.#execute(line.trim());
        if (leave || this.#lost) break;
        this.#prompt(lines, tty);
      }
    } catch (error) {
      this.#lost ??= error as Error;
    } finally {
      lines.close();
      process.off('SIGINT', onInterrupt);
      this.#connection.off('close', onClose);
    }
    if (this.#lost) {
      this.#io.stderr.write(`${PROGRAM}: connection lost: ${this.#lost.message}\n`);
      this.#connection.destroy();
      return 1;
    }
    await this.#connection.close({ timeout: 5_000 }).catch(() => this.#connection.destroy());
    if (tty) this.#io.stdout.write('bye\n');
    return 0;
  }

  #prompt(lines: ReturnType<typeof createInterface>, tty: boolean): void {
    if (!tty) return;
    lines.setPrompt(`antt:${this.#cwd}> `);
    lines.prompt();
  }

  /** Runs one typed line; true when the person asked to leave. */
  async #execute(line: string): Promise<boolean> {
    if (line === '') return false;
    const word = line.split(/\s/, 1)[0]!;
    try {
      switch (word) {
        case 'exit':
        case 'quit':
        case 'logout':
          return true;
        case 'help':
        case '?':
          this.#say(commandsHelp(this.#welcome.exec));
          return false;
        case 'run':
          await this.#run(line.slice(3).trim());
          return false;
        case 'cd':
        case 'pwd':
        case 'ls':
        case 'get':
        case 'put':
          await this.#builtin(word, splitWords(line).slice(1));
          return false;
        default:
          await this.#run(line.startsWith('!') ? line.slice(1).trim() : line);
          return false;
      }
    } catch (error) {
      if (error instanceof WordsError) {
        this.#complain(`${word}: ${error.message}`);
        return false;
      }
      if (error instanceof ProtocolMessageError) {
        this.#lost = new Error(`the server broke the protocol: ${error.message}`);
        return true;
      }
      if (AnttError.is(error)) {
        this.#lost = error;
        return true;
      }
      throw error;
    }
  }

  async #builtin(word: 'cd' | 'pwd' | 'ls' | 'get' | 'put', args: string[]): Promise<void> {
    const most = { cd: 1, pwd: 0, ls: 1, get: 2, put: 2 }[word];
    const least = word === 'get' || word === 'put' ? 1 : 0;
    if (args.length < least || args.length > most) {
      const usage = {
        cd: 'cd [DIR]',
        pwd: 'pwd',
        ls: 'ls [PATH]',
        get: 'get REMOTE [LOCAL]',
        put: 'put LOCAL [REMOTE]',
      };
      return this.#complain(`usage: ${usage[word]}`);
    }
    if (word === 'ls' && args[0]?.startsWith('-')) {
      return this.#complain(
        `ls takes a path, not options; to run the server's own ls: run ls ${args.join(' ')}`,
      );
    }
    if (word === 'cd' || word === 'pwd') {
      const id = await this.#request(word, ...(word === 'cd' ? [args[0] ?? ''] : []));
      const answer = await this.#answer(id);
      if (answer.type !== 'cwd') return this.#unexpected(answer);
      this.#cwd = text(answer, 1, 'a directory');
      if (word === 'pwd')
        this.#say(`${this.#cwd}  (inside the served root ${this.#welcome.root} on the server)`);
      return;
    }
    if (word === 'ls') return this.#ls(args[0] ?? '.');
    if (word === 'get') return this.#get(args[0]!, args[1]);
    return this.#put(args[0]!, args[1]);
  }

  // ---- commands ----------------------------------------------------------------------------------

  async #run(command: string): Promise<void> {
    if (command === '') return this.#complain('run: which command?');
    const id = await this.#request('run', command);
    let interrupts = 0;
    let atLineStart = true;
    this.#interrupt = () => {
      const signal = INTERRUPT_SIGNALS[Math.min(interrupts++, INTERRUPT_SIGNALS.length - 1)]!;
      if (interrupts === 2) this.#complain('\n(Ctrl-C again sends SIGKILL)');
      this.#connection.send(encode('interrupt', id, signal)).catch(() => {});
    };
    try {
      for (;;) {
        const answer = await this.#answer(id);
        if (answer.type === 'out') {
          const data = bytes(answer, 2, 'output');
          if (data.byteLength === 0) continue;
          (integer(answer, 1, 'a channel') === 2 ? this.#io.stderr : this.#io.stdout).write(data);
          atLineStart = data[data.byteLength - 1] === 0x0a;
        } else if (answer.type === 'exit') {
          const code = answer.values[1];
          const signal = answer.values[2];
          if (!atLineStart) this.#io.stdout.write('\n');
          this.#say(typeof signal === 'string' ? `[killed by ${signal}]` : `[exit ${String(code)}]`);
          return;
        } else {
          return this.#unexpected(answer);
        }
      }
    } finally {
      this.#interrupt = undefined;
    }
  }

  async #ls(path: string): Promise<void> {
    const id = await this.#request('ls', path);
    const answer = await this.#answer(id);
    if (answer.type !== 'entries') return this.#unexpected(answer);
    const entries = answer.values[1];
    if (!Array.isArray(entries)) throw new ProtocolMessageError("'entries' without a list");
    if (entries.length === 0) this.#say('(empty)');
    for (const entry of entries as unknown[]) {
      if (!Array.isArray(entry)) continue;
      const [name, kind, size, mtime] = entry as [unknown, unknown, unknown, unknown];
      const mark = kind === 'dir' ? '/' : kind === 'link' ? '@' : '';
      const shownSize = kind === 'dir' ? '-' : formatBytes(Number(size));
      this.#say(`${shownSize.padStart(10)}  ${formatDate(Number(mtime))}  ${String(name)}${mark}`);
    }
    const more = Number(answer.values[2] ?? 0);
    if (more > 0) this.#say(`... and ${more} more entries`);
  }

  // ---- transfers ---------------------------------------------------------------------------------

  async #get(remote: string, local: string | undefined): Promise<void> {
    const id = await this.#request('get', remote);
    const first = await this.#answer(id);
    if (first.type !== 'file') return this.#unexpected(first);
    const name = basename(text(first, 1, 'a file name'));
    const size = integer(first, 2, 'a size');
    let target = local ?? name;
    if ((await stat(target).catch(() => undefined))?.isDirectory()) target = join(target, name);
    const part = `${target}.part`;
    let file: WriteStream | undefined;
    let localError: Error | undefined;
    let cancelled = false;
    const cancel = (): void => {
      if (cancelled) return;
      cancelled = true;
      this.#connection.send(encode('cancel', id)).catch(() => {});
    };
    try {
      file = createWriteStream(part);
      file.on('error', (error) => {
        localError ??= error;
        cancel();
      });
      const progress = new Progress(`get ${name}`, size, this.#io.stdout);
      const hash = createHash('sha256');
      this.#interrupt = cancel;
      for (;;) {
        const answer = await this.#answer(id);
        if (answer.type === 'chunk') {
          if (cancelled) continue;
          const data = bytes(answer, 1, 'data');
          hash.update(data);
          if (!file.write(data)) await drained(file);
          progress.add(data.byteLength);
          continue;
        }
        progress.clear();
        if (answer.type === 'done') {
          await endFile(file);
          if (localError) throw localError;
          const ours = hash.digest('hex');
          const theirs = text(answer, 1, 'a sha256');
          if (ours !== theirs) {
            await unlink(part).catch(() => {});
            return this.#complain(
              `get ${remote}: sha256 mismatch (server ${theirs}, received ${ours}); nothing was saved`,
            );
          }
          await rename(part, target);
          this.#say(`get ${remote}: saved as ${target}, ${progress.summary()}, sha256 ok (${ours})`);
          return;
        }
        file.destroy();
        await unlink(part).catch(() => {});
        if (localError)
          return this.#complain(`get ${remote}: cannot write ${part}: ${describeFsError(localError)}`);
        if (answer.type === 'error' && answer.values[1] === 'cancelled') {
          return this.#complain(`get ${remote}: cancelled; nothing was saved`);
        }
        return this.#unexpected(answer);
      }
    } catch (error) {
      file?.destroy();
      await unlink(part).catch(() => {});
      if (AnttError.is(error) || error instanceof ProtocolMessageError) throw error;
      this.#complain(`get ${remote}: cannot write ${part}: ${describeFsError(error)}`);
    } finally {
      this.#interrupt = undefined;
    }
  }

  async #put(local: string, remote: string | undefined): Promise<void> {
    let handle: Awaited<ReturnType<typeof open>>;
    let size: number;
    try {
      handle = await open(local, 'r');
      const info = await handle.stat();
      if (!info.isFile()) {
        await handle.close();
        return this.#complain(`put: ${local} is not a regular file`);
      }
      size = info.size;
    } catch (error) {
      return this.#complain(`put: cannot read ${local}: ${describeFsError(error)}`);
    }
    try {
      const id = await this.#request('put', remote ?? basename(local), size, basename(local));
      const first = await this.#answer(id);
      if (first.type !== 'ready') return this.#unexpected(first);
      const shown = text(first, 1, 'a path');
      // The server may answer early (refusal, full disk): watch for it while sending.
      let early: Message | Error | undefined;
      const final = this.#answer(id).then(
        (message) => (early = message),
        (error: Error) => (early = error),
      );
      let cancelled = false;
      this.#interrupt = () => {
        cancelled = true;
      };
      const progress = new Progress(`put ${basename(local)}`, size, this.#io.stdout);
      const hash = createHash('sha256');
      let sent = 0;
      const file = handle.createReadStream({ highWaterMark: CHUNK_BYTES, end: Math.max(0, size - 1) });
      try {
        for await (const chunk of file as AsyncIterable<Buffer>) {
          if (early || cancelled || sent >= size) break;
          const data = chunk.subarray(0, size - sent);
          hash.update(data);
          await this.#connection.send(encode('chunk', id, data));
          sent += data.byteLength;
          progress.add(data.byteLength);
        }
      } finally {
        file.destroy();
      }
      const ours = hash.digest('hex');
      if (!early) await this.#connection.send(cancelled ? encode('cancel', id) : encode('done', id, ours));
      const answer = await final;
      progress.clear();
      if (answer instanceof Error) throw answer;
      if (answer.type === 'saved') {
        const theirs = text(answer, 2, 'a sha256');
        if (theirs !== ours) {
          return this.#complain(`put ${local}: sha256 mismatch (sent ${ours}, server saved ${theirs})`);
        }
        this.#say(
          `put ${local}: saved as ${shown} on the server, ${progress.summary()}, sha256 ok (${ours})`,
        );
        return;
      }
      if (answer.type === 'error' && answer.values[1] === 'cancelled') {
        return this.#complain(`put ${local}: cancelled; nothing was saved on the server`);
      }
      return this.#unexpected(answer);
    } finally {
      this.#interrupt = undefined;
      await handle.close().catch(() => {});
    }
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  async #request(type: string, ...values: (string | number)[]): Promise<number> {
    const id = this.#nextId++;
    await this.#connection.send(encode(type, id, ...values));
    return id;
  }

  /** The next message for request `id` (messages of earlier, cancelled requests are skipped). */
  async #answer(id: number): Promise<Message> {
    for (;;) {
      const message = decode(await this.#connection.receive());
      if (message.values[0] === id) return message;
    }
  }

  /** An error answer is shown as the server worded it; anything else is a protocol error. */
  #unexpected(answer: Message): void {
    if (answer.type === 'error') {
      this.#complain(text(answer, 2, 'a message'));
      return;
    }
    throw new ProtocolMessageError(`unexpected '${answer.type}' message`);
  }

  #say(line: string): void {
    this.#io.stdout.write(`${line}\n`);
  }

  #complain(line: string): void {
    this.#io.stderr.write(`${line}\n`);
  }
}

function drained(file: WriteStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      file.off('drain', done);
      file.off('error', done);
      file.off('close', done);
      resolve();
    };
    file.on('drain', done);
    file.on('error', done);
    file.on('close', done);
  });
}

function endFile(file: WriteStream): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    file.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

function formatDate(ms: number): string {
  if (!Number.isFinite(ms)) return '?'.padEnd(16);
  const date = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
