/**
 * The served root: every path a client names (cd, ls, get, put) is resolved against the session's
 * directory and must stay inside the root, both as written (no absolute paths, no `..` climbing out) and
 * on disk (no symlink whose real path leaves the root). Refusals are `JailError`s with a message meant
 * for the client as is.
 */
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';

export class JailError extends Error {
  constructor(
    message: string,
    /** 'refused' when the path leaves the root, 'not-found' or 'failed' otherwise. */
    readonly code: 'refused' | 'not-found' | 'failed',
  ) {
    super(message);
  }
}

export interface ResolvedPath {
  /** Absolute path on the server's disk. */
  full: string;
  /** The same, relative to the root ('.' for the root), for messages and the prompt. */
  shown: string;
}

export class Jail {
  readonly root: string;

  /** `root` must be an existing directory given by its real path (see `Jail.open`). */
  private constructor(root: string) {
    this.root = root;
  }

  static async open(root: string): Promise<Jail> {
    return new Jail(await realpath(root));
  }

  /** Shown form of an absolute path inside the root. */
  show(full: string): string {
    return relative(this.root, full) || '.';
  }

  /**
   * Resolves `path` (as the client typed it) against `cwd` (an absolute path inside the root).
   * `mustExist`: the target itself must exist and its real path stay inside. Otherwise (a put target) the
   * parent directory must, and an existing target must not be a symlink leading out.
   */
  async resolve(cwd: string, path: string, mustExist: boolean): Promise<ResolvedPath> {
    if (path.includes('\0')) throw new JailError(`refused: ${quote(path)} contains a NUL byte`, 'refused');
    if (isAbsolute(path) || /^[a-zA-Z]:[\\/]/.test(path)) {
      throw new JailError(
        `refused: ${path} is outside the served root (absolute paths are not served; give a path relative to the current directory)`,
        'refused',
      );
    }
    const full = resolve(cwd, path);
    if (!this.#inside(full)) throw new JailError(`refused: ${path} is outside the served root`, 'refused');
    if (mustExist) {
      await this.#checkReal(full, path);
    } else {
      await this.#checkReal(dirname(full), path);
      const link = await lstat(full).catch(() => undefined);
      if (link?.isSymbolicLink()) await this.#checkReal(full, path);
    }
    return { full, shown: this.show(full) };
  }

  /** A directory to `cd` into, returned as its real path so later checks start from the truth. */
  async directory(cwd: string, path: string): Promise<ResolvedPath> {
    const { full } = await this.resolve(cwd, path, true);
    const real = await realpath(full);
    if (!(await stat(real)).isDirectory()) throw new JailError(`${path} is not a directory`, 'failed');
    return { full: real, shown: this.show(real) };
  }

  #inside(full: string): boolean {
    return full === this.root || full.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep);
  }

  async #checkReal(full: string, typed: string): Promise<void> {
    let real: string;
    try {
      real = await realpath(full);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        // A dangling symlink that points out is still a way out: report it as such.
        const target = await danglingTarget(full);
        if (target !== undefined && !this.#inside(target)) {
          throw new JailError(`refused: ${typed} leads outside the served root (symlink)`, 'refused');
        }
        throw new JailError(`${typed}: no such file or directory`, 'not-found');
      }
      if (code === 'EACCES') throw new JailError(`${typed}: permission denied`, 'failed');
      throw new JailError(`${typed}: ${code ?? (error as Error).message}`, 'failed');
    }
    if (!this.#inside(real)) {
      throw new JailError(`refused: ${typed} leads outside the served root (symlink)`, 'refused');
    }
  }
}

async function danglingTarget(full: string): Promise<string | undefined> {
  try {
    const target = await readlink(full);
    return resolve(dirname(full), target);
  } catch {
    return undefined;
  }
}

/** The name a file gets when the client gave a directory or no name. */
export function fileName(path: string): string {
  return basename(path.replace(/[\\/]+$/, '')) || 'download';
}

function quote(path: string): string {
  return JSON.stringify(path.replaceAll('\0', '\\0'));
}
