/**
 * One client's session on the server: reads requests in order and answers them. Commands and downloads
 * run in the background (so `interrupt` and `cancel` can reach them), one at a time; an upload is written
 * as its chunks arrive, and the session reads the next message only once the disk took the last one, so
 * a fast client waits for a slow disk instead of filling memory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection } from '@antt/core';
import type { PacketValue } from '@antt/packet';
import { describeFsError } from './cli.js';
import { fileName, type Jail, JailError } from './jail.js';
import {
  bytes,
  CHUNK_BYTES,
  decode,
  type ErrorCodeName,
  encode,
  integer,
  MAX_LISTING_ENTRIES,
  type Message,
  optionalText,
  ProtocolMessageError,
  text,
} from './protocol.js';

/** What a client's Ctrl-C may send to a running command (first, second, third press). */
const INTERRUPT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;

/** Streams the session owns while a command or a transfer runs. */
type Job =
  | { kind: 'run'; id: number; child: ChildProcess }
  | { kind: 'get'; id: number; cancelled: boolean }
  | {
      kind: 'put';
      id: number;
      full: string;
      part: string;
      shown: string;
      size: number;
      received: number;
      hash: Hash;
      file: WriteStream;
      writeError?: Error;
    };

export interface SessionOptions {
  connection: Connection;
  jail: Jail;
  exec: boolean;
  /** Writes one line to the server log, already naming the peer. */
  log(line: string): void;
}

export class Session {
  readonly #connection: Connection;
  readonly #jail: Jail;
  readonly #exec: boolean;
  readonly #log: (line: string) => void;
  #cwd: string;
  #job: Job | undefined;
  /** Every outgoing message goes through this chain, so answers and output keep their order. */
  #sending: Promise<void> = Promise.resolve();

  constructor(options: SessionOptions) {
    this.#connection = options.connection;
    this.#jail = options.jail;
    this.#exec = options.exec;
    this.#log = options.log;
    this.#cwd = options.jail.root;
  }

  /** Serves requests until the client leaves; rejects on a broken connection or protocol. */
  async run(): Promise<void> {
    try {
      for await (const bytes of this.#connection) await this.#handle(decode(bytes));
    } finally {
      await this.#abandonJob();
    }
  }

  async #handle(message: Message): Promise<void> {
    const id = integer(message, 0, 'a request id');
    try {
      switch (message.type) {
        case 'run':
          return this.#run(id, text(message, 1, 'a command'));
        case 'interrupt':
          return this.#interrupt(id, optionalText(message, 1));
        case 'cd':
          return await this.#cd(id, text(message, 1, 'a path'));
        case 'pwd':
          return this.#reply('cwd', id, this.#jail.show(this.#cwd));
        case 'ls':
          return await this.#ls(id, text(message, 1, 'a path'));
        case 'get':
          return await this.#get(id, text(message, 1, 'a path'));
        case 'put':
          return await this.#put(
            id,
            text(message, 1, 'a path'),
            integer(message, 2, 'a size'),
            optionalText(message, 3),
          );
        case 'chunk':
          return await this.#putChunk(id, bytes(message, 1, 'data'));
        case 'done':
          return await this.#putDone(id, text(message, 1, 'a sha256'));
        case 'cancel':
          return await this.#cancel(id);
        default:
          return this.#fail(
            id,
            'failed',
            `unknown request '${message.type}' (is the client newer than the server?)`,
          );
      }
    } catch (error) {
      if (error instanceof ProtocolMessageError) throw error;
      if (error instanceof JailError) {
        if (error.code === 'refused')
          this.#log(`refused ${message.type} ${describeArgument(message)}: ${error.message}`);
        return this.#fail(id, error.code, error.message);
      }
      this.#log(`${message.type} failed: ${(error as Error).message}`);
      return this.#fail(id, 'failed', `${message.type}: ${describeFsError(error)}`);
    }
  }

  // ---- commands ----------------------------------------------------------------------------------

  #run(id: number, command: string): void {
    if (!this.#exec) {
      this.#log(`refused run ${JSON.stringify(command)}: commands are off (--no-exec)`);
      this.#fail(id, 'no-exec', 'refused: this server does not run commands (it was started with --no-exec)');
      return;
    }
    if (this.#busy(id)) return;
    this.#log(`run ${JSON.stringify(command)} in ${this.#jail.show(this.#cwd)}`);
    // detached: the command gets its own process group, so an interrupt reaches its children too.
    const child = spawn(command, {
      shell: true,
      cwd: this.#cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.#job = { kind: 'run', id, child };
    const forward = (stream: NodeJS.ReadableStream, channel: 1 | 2): void => {
      stream.on('data', (chunk: Buffer) => {
        stream.pause();
        this.#send(encode('out', id, channel, chunk)).then(
          () => stream.resume(),
          () => {},
        );
      });
    };
    forward(child.stdout!, 1);
    forward(child.stderr!, 2);
    let finished = false;
    const finish = (): void => {
      finished = true;
      if (this.#job?.kind === 'run' && this.#job.id === id) this.#job = undefined;
    };
    child.on('error', (error) => {
      if (finished) return;
      finish();
      this.#log(`cannot run ${JSON.stringify(command)}: ${error.message}`);
      this.#fail(id, 'failed', `cannot run the command: ${error.message}`);
    });
    child.on('close', (code, signal) => {
      if (finished) return;
      finish();
      this.#log(`exit ${signal ?? code} from ${JSON.stringify(command)}`);
      this.#reply('exit', id, code, signal);
    });
  }

  #interrupt(id: number, requested: string | undefined): void {
    const job = this.#job;
    if (job?.kind !== 'run' || job.id !== id || job.child.pid === undefined) return;
    const signal = INTERRUPT_SIGNALS.find((name) => name === requested) ?? 'SIGINT';
    this.#log(`interrupt: ${signal} to the running command`);
    try {
      process.kill(-job.child.pid, signal);
    } catch {
      // It already ended; its exit message is on the way.
    }
  }

  // ---- directories -------------------------------------------------------------------------------

  async #cd(id: number, path: string): Promise<void> {
    const target =
      path === '' || path === '~' ? { full: this.#jail.root } : await this.#jail.directory(this.#cwd, path);
    this.#cwd = target.full;
    this.#reply('cwd', id, this.#jail.show(this.#cwd));
  }

  async #ls(id: number, path: string): Promise<void> {
    const { full } = await this.#jail.resolve(this.#cwd, path || '.', true);
    const info = await stat(full);
    if (!info.isDirectory()) {
      return this.#reply('entries', id, [[fileName(path), kindOf(info), info.size, info.mtimeMs]], 0);
    }
    const names = (await readdir(full)).sort();
    const entries: PacketValue[] = [];
    for (const name of names.slice(0, MAX_LISTING_ENTRIES)) {
      const entry = await lstat(join(full, name)).catch(() => undefined);
      if (entry) entries.push([name, kindOf(entry), entry.size, entry.mtimeMs]);
    }
    this.#reply('entries', id, entries, Math.max(0, names.length - MAX_LISTING_ENTRIES));
  }

  // ---- downloads ---------------------------------------------------------------------------------

  async #get(id: number, path: string): Promise<void> {
    if (this.#busy(id)) return;
    const { full, shown } = await this.#jail.resolve(this.#cwd, path, true);
    const info = await stat(full);
    if (!info.isFile()) return this.#fail(id, 'failed', `${path} is not a regular file`);
    const job: Job = { kind: 'get', id, cancelled: false };
    this.#job = job;
    this.#log(`get ${shown} (${info.size} bytes)`);
    this.#reply('file', id, fileName(shown), info.size);
    void this.#streamFile(job, full, shown);
  }

  async #streamFile(job: Extract<Job, { kind: 'get' }>, full: string, shown: string): Promise<void> {
    const hash = createHash('sha256');
    try {
      const file = createReadStream(full, { highWaterMark: CHUNK_BYTES });
      try {
        for await (const chunk of file as AsyncIterable<Buffer>) {
          if (job.cancelled) break;
          hash.update(chunk);
          await this.#send(encode('chunk', job.id, chunk));
        }
      } finally {
        file.destroy();
      }
      if (job.cancelled) {
        this.#log(`get ${shown} cancelled by the client`);
        this.#fail(job.id, 'cancelled', 'cancelled');
      } else {
        this.#reply('done', job.id, hash.digest('hex'));
      }
    } catch (error) {
      if (this.#connection.state !== 'open') return;
      this.#log(`get ${shown} failed: ${(error as Error).message}`);
      this.#fail(job.id, 'failed', `get ${shown}: ${describeFsError(error)}`);
    } finally {
      if (this.#job === job) this.#job = undefined;
    }
  }

  // ---- uploads -----------------------------------------------------------------------------------

  async #put(id: number, path: string, size: number, name: string | undefined): Promise<void> {
    if (this.#busy(id)) return;
    let target = await this.#jail.resolve(this.#cwd, path, false);
    const existing = await stat(target.full).catch(() => undefined);
    if (existing?.isDirectory()) {
      const base = fileName(name ?? '');
      if (base === '.' || base === '..' || /[\\/]/.test(base))
        throw new ProtocolMessageError('bad file name in put');
      target = await this.#jail.resolve(target.full, base, false);
    }
    const part = `${target.full}.part`;
    // Never write through a symlink someone left at the .part name: remove it, then create exclusively.
    await unlink(part).catch(() => {});
    const file = createWriteStream(part, { flags: 'wx', mode: 0o644 });
    await once(file, 'open');
    const job: Job = {
      kind: 'put',
      id,
      full: target.full,
      part,
      shown: target.shown,
      size,
      received: 0,
      hash: createHash('sha256'),
      file,
    };
    file.on('error', (error) => {
      job.writeError ??= error;
    });
    this.#job = job;
    this.#log(`put ${target.shown} (${size} bytes) started`);
    this.#reply('ready', id, target.shown);
  }

  async #putChunk(id: number, data: Uint8Array): Promise<void> {
    const job = this.#job;
    if (job?.kind !== 'put' || job.id !== id) return; // late chunks of a cancelled upload
    job.received += data.byteLength;
    if (job.received > job.size) {
      await this.#dropUpload(job);
      throw new ProtocolMessageError(`put sent more than the ${job.size} bytes it announced`);
    }
    job.hash.update(data);
    if (!job.writeError && !job.file.write(data)) await drained(job.file).catch(() => {});
    if (job.writeError) {
      const reason = describeFsError(job.writeError);
      await this.#dropUpload(job);
      this.#log(`put ${job.shown} failed: ${job.writeError.message}`);
      this.#fail(id, 'failed', `put ${job.shown}: ${reason}; nothing was saved`);
    }
  }

  async #putDone(id: number, sha256: string): Promise<void> {
    const job = this.#job;
    if (job?.kind !== 'put' || job.id !== id) return;
    this.#job = undefined;
    await new Promise<void>((resolve, reject) =>
      job.file.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    const ours = job.hash.digest('hex');
    if (job.received !== job.size || ours !== sha256) {
      await unlink(job.part).catch(() => {});
      const what =
        job.received !== job.size
          ? `received ${job.received} of ${job.size} bytes`
          : `sha256 mismatch: client sent ${sha256}, server got ${ours}`;
      this.#log(`put ${job.shown} failed: ${what}`);
      return this.#fail(id, 'mismatch', `put ${job.shown}: ${what}; nothing was saved`);
    }
    await rename(job.part, job.full);
    this.#log(`put ${job.shown} saved (${job.size} bytes, sha256 ${ours})`);
    this.#reply('saved', id, job.shown, ours);
  }

  async #cancel(id: number): Promise<void> {
    const job = this.#job;
    if (job?.kind === 'get' && job.id === id) job.cancelled = true;
    if (job?.kind === 'put' && job.id === id) {
      await this.#dropUpload(job);
      this.#log(`put ${job.shown} cancelled by the client`);
      this.#fail(id, 'cancelled', 'cancelled; nothing was saved');
    }
  }

  async #dropUpload(job: Extract<Job, { kind: 'put' }>): Promise<void> {
    if (this.#job === job) this.#job = undefined;
    job.file.destroy();
    await once(job.file, 'close').catch(() => {});
    await unlink(job.part).catch(() => {});
  }

  /** The client left or the connection broke: stop the command, drop a half-written upload. */
  async #abandonJob(): Promise<void> {
    const job = this.#job;
    this.#job = undefined;
    if (job?.kind === 'run' && job.child.pid !== undefined && job.child.exitCode === null) {
      this.#log('client left while a command ran: sending it SIGHUP');
      try {
        process.kill(-job.child.pid, 'SIGHUP');
      } catch {}
    }
    if (job?.kind === 'get') job.cancelled = true;
    if (job?.kind === 'put') {
      this.#log(`put ${job.shown} abandoned by the client; nothing was saved`);
      await this.#dropUpload(job);
    }
  }

  // ---- sending -----------------------------------------------------------------------------------

  #busy(id: number): boolean {
    if (!this.#job) return false;
    this.#fail(id, 'busy', 'busy: another request is still running');
    return true;
  }

  #reply(...values: PacketValue[]): void {
    this.#send(encode(...values)).catch(() => {});
  }

  #fail(id: number, code: ErrorCodeName, message: string): void {
    this.#reply('error', id, code, message);
  }

  /** Sends in order; a failure here means the connection ended, which `run()` reports. */
  #send(message: Uint8Array): Promise<void> {
    const sent = this.#sending.then(() => this.#connection.send(message));
    this.#sending = sent.catch(() => {});
    return sent;
  }
}

function kindOf(info: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }): string {
  if (info.isSymbolicLink()) return 'link';
  if (info.isDirectory()) return 'dir';
  return info.isFile() ? 'file' : 'other';
}

function drained(file: WriteStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error): void => {
      file.off('drain', done);
      file.off('error', done);
      if (error) reject(error);
      else resolve();
    };
    file.on('drain', done);
    file.on('error', done);
  });
}

function describeArgument(message: Message): string {
  const value = message.values[1];
  return typeof value === 'string' ? JSON.stringify(value) : '';
}
