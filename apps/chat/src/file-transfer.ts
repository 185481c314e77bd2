/**
 * Files over a chat connection: `['file-start', name, size]`, then `['file-chunk', bytes]` messages,
 * then `['file-end', sha256]`; the receiver answers `['file-result', ok, detail]`. One file at a time in
 * each direction. The receiver never trusts the name: it keeps the base name, drops what a file system
 * or a terminal could misread, and never overwrites (report.pdf, report-1.pdf, ...).
 */
import { createHash, type Hash } from 'node:crypto';
import { constants, type FileHandle, open, unlink } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Connection } from '@antt/core';
import { encodeMessage, FILE_CHUNK_BYTES } from './messages.js';
import { Progress, type ProgressSink } from './progress.js';

const MAX_FILE_NAME_CHARS = 200;
const MAX_NAME_SUFFIX = 10_000;
const FALLBACK_FILE_NAME = 'received-file';

/** A problem a person can fix (no such file, permission), shown as one line. */
export class FileProblem extends Error {
  override name = 'FileProblem';
}

export interface SentFile {
  name: string;
  bytes: number;
  sha256: string;
  elapsedMs: number;
}

/** Opens `path` for /send, turning file system errors into one readable line. */
export async function openForSending(path: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY);
  } catch (error) {
    throw new FileProblem(`cannot read ${path}: ${describeFsError(error)}`);
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new FileProblem(
      `cannot send ${path}: ${stat.isDirectory() ? 'it is a directory' : 'not a regular file'}`,
    );
  }
  return { handle, size: stat.size };
}

/** Streams an opened file; resolves once every chunk was accepted by the connection. */
export async function sendFile(
  connection: Connection,
  path: string,
  opened: { handle: FileHandle; size: number },
  sink: ProgressSink,
): Promise<SentFile> {
  const name = basename(path);
  const { handle, size } = opened;
  const hash = createHash('sha256');
  const progress = new Progress(`sending ${name}`, size, sink);
  const buffer = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
  let sent = 0;
  try {
    await connection.send(encodeMessage({ kind: 'file-start', name, size }));
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      // Encoding copies the bytes, so the buffer can be refilled while the message is in flight.
      await connection.send(encodeMessage({ kind: 'file-chunk', bytes: chunk }).encode());
      sent += bytesRead;
      progress.update(sent);
    }
    if (sent !== size)
      throw new FileProblem(`${path} changed size while being sent (${size} → ${sent} bytes)`);
    const sha256 = hash.digest('hex');
    await connection.send(encodeMessage({ kind: 'file-end', sha256 }));
    progress.finish(
      `sent ${name} (${formatSize(sent)}) in ${seconds(progress.elapsedMs)}; waiting for the peer to check it`,
    );
    return { name, bytes: sent, sha256, elapsedMs: progress.elapsedMs };
  } catch (error) {
    const percent = size > 0 ? Math.floor((sent / size) * 100) : 0;
    progress.finish(`sending ${name} stopped at ${percent}%`);
    throw error;
  } finally {
    await handle.close();
  }
}

/** One file being received. */
export class IncomingFile {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  #received = 0;
  readonly #handle: FileHandle;
  readonly #hash: Hash = createHash('sha256');
  readonly #progress: Progress;

  private constructor(name: string, path: string, size: number, handle: FileHandle, sink: ProgressSink) {
    this.name = name;
    this.path = path;
    this.size = size;
    this.#handle = handle;
    this.#progress = new Progress(`receiving ${name}`, size, sink);
  }

  static async create(
    directory: string,
    offeredName: string,
    size: number,
    sink: ProgressSink,
  ): Promise<IncomingFile> {
    const name = sanitizeFileName(offeredName);
    const { path, handle } = await createUnique(directory, name);
    return new IncomingFile(name, path, size, handle, sink);
  }

  get received(): number {
    return this.#received;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#received + bytes.byteLength > this.size) {
      throw new FileProblem(`the peer sent more than the ${this.size} bytes it announced`);
    }
    this.#hash.update(bytes);
    await this.#handle.write(bytes);
    this.#received += bytes.byteLength;
    this.#progress.update(this.#received);
  }

  /** Checks size and hash; keeps the file only if both match. Returns the line to show. */
  async finish(expectedSha256: string): Promise<{ ok: boolean; detail: string }> {
    await this.#handle.close();
    const actual = this.#hash.digest('hex');
    const elapsed = seconds(this.#progress.elapsedMs);
    if (this.#received !== this.size) {
      await unlink(this.path).catch(() => {});
      const detail = `only ${this.#received} of ${this.size} bytes arrived; file removed`;
      this.#progress.finish(`receiving ${this.name} failed: ${detail}`);
      return { ok: false, detail };
    }
    if (actual !== expectedSha256) {
      await unlink(this.path).catch(() => {});
      const detail = 'SHA-256 does not match; file removed';
      this.#progress.finish(`receiving ${this.name} failed: ${detail}`);
      return { ok: false, detail };
    }
    const detail = `saved as ${this.path} (${formatSize(this.size)} in ${elapsed}, SHA-256 verified)`;
    this.#progress.finish(`received ${this.name}: ${detail}`);
    return { ok: true, detail: `saved it (${formatSize(this.size)}, SHA-256 verified)` };
  }

  /** Stops and removes the partial file. */
  async abort(reason: string): Promise<void> {
    await this.#handle.close().catch(() => {});
    await unlink(this.path).catch(() => {});
    const percent = this.size > 0 ? Math.floor((this.#received / this.size) * 100) : 0;
    this.#progress.finish(`receiving ${this.name} stopped at ${percent}% (${reason}); partial file removed`);
  }
}

/**
 * The base name only (no directories, whichever separator the sender's system uses), without control
 * characters, characters other systems forbid, or leading dots (no hidden or special files).
 */
export function sanitizeFileName(offered: string): string {
  const base = offered.split(/[/\\]/).pop() ?? '';
  let name = base
    .replace(/[\p{Cc}\p{Cf}<>:"|?*]/gu, '_')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  if (name.length > MAX_FILE_NAME_CHARS) {
    const extension = extname(name).slice(0, 20);
    name = name.slice(0, MAX_FILE_NAME_CHARS - extension.length) + extension;
  }
  return name.length > 0 ? name : FALLBACK_FILE_NAME;
}

/** `name`, else `name-1.ext`, `name-2.ext`, ...: created exclusively, so nothing is ever overwritten. */
async function createUnique(directory: string, name: string): Promise<{ path: string; handle: FileHandle }> {
  const extension = extname(name);
  const stem = name.slice(0, name.length - extension.length);
  for (let suffix = 0; suffix < MAX_NAME_SUFFIX; suffix++) {
    const path = join(directory, suffix === 0 ? name : `${stem}-${suffix}${extension}`);
    try {
      return { path, handle: await open(path, 'wx', 0o644) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FileProblem(`cannot save ${path}: ${describeFsError(error)}`);
      }
    }
  }
  throw new FileProblem(`cannot save ${name}: ${MAX_NAME_SUFFIX} files of that name exist in ${directory}`);
}

export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOSPC':
      return 'the disk is full';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

function formatSize(bytes: number): string {
  return bytes < 1e6 ? `${bytes} bytes` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
