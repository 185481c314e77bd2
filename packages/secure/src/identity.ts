/**
 * An identity: a long-term X25519 key pair, saved to a file only its owner can read.
 *
 * File format (UTF-8 JSON, mode 0600, parent directory created 0700):
 *
 *     {
 *       "type": "antt-identity",
 *       "version": 1,
 *       "algorithm": "x25519",
 *       "privateKey": "<32 bytes, base64url>",
 *       "publicKey": "<32 bytes, base64url>",
 *       "peerId": "K5QW-3MZA-P7XD-2HJE-Q4RT-B6NY-CUVL-ZS3F"
 *     }
 *
 * `publicKey` and `peerId` are there for people and tools; on load both are recomputed from the
 * private key and must agree with the file.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AnttError, AuthError, ErrorCode } from '@antt/core';
import { generateKeyPair, type KeyPair, keyPairFromPrivateKey } from './noise/dh.js';
import { type PeerId, peerIdFromPublicKey } from './peer-id.js';

const FILE_TYPE = 'antt-identity';
const FILE_VERSION = 1;
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
/** Bits that let anyone but the owner read, write or execute. */
const GROUP_OTHER_BITS = 0o077;

export interface IdentityFileOptions {
  signal?: AbortSignal;
}

export class Identity {
  readonly publicKey: Uint8Array;
  readonly peerId: PeerId;
  /** @internal The key pair the handshake uses; not part of the stable API. */
  readonly keyPair: KeyPair;

  private constructor(keyPair: KeyPair) {
    this.keyPair = keyPair;
    this.publicKey = new Uint8Array(keyPair.publicKey);
    this.peerId = peerIdFromPublicKey(keyPair.publicKey);
  }

  /** A fresh identity, in memory only. */
  static generate(): Identity {
    return new Identity(generateKeyPair());
  }

  /** An identity from a raw 32-byte X25519 private key. */
  static fromPrivateKey(privateKey: Uint8Array): Identity {
    return new Identity(keyPairFromPrivateKey(privateKey));
  }

  /**
   * Loads an identity file. Refuses a file that group or others may read (AuthError telling how to
   * fix it) and a file that is not an identity (AnttError ANTT_ERR_INVALID_ARGUMENT naming the file).
   */
  static async load(path: string, options: IdentityFileOptions = {}): Promise<Identity> {
    options.signal?.throwIfAborted();
    let text: string;
    try {
      if (process.platform !== 'win32') {
        const info = await stat(path);
        if ((info.mode & GROUP_OTHER_BITS) !== 0) {
          const mode = (info.mode & 0o777).toString(8).padStart(3, '0');
          throw new AuthError(
            `identity file ${path} is readable by other users (mode ${mode}); ` +
              `run \`chmod 600 ${path}\` and try again`,
          );
        }
      }
      text = await readFile(path, {
        encoding: 'utf8',
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (cause) {
      if (AnttError.is(cause)) throw cause;
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `cannot read identity file ${path} (${(cause as NodeJS.ErrnoException).code ?? cause})`,
        { cause },
      );
    }
    return Identity.parse(text, path);
  }

  /** Loads the identity at `path`, creating it (0600, parent directory 0700) on first use. */
  static async loadOrCreate(path: string, options: IdentityFileOptions = {}): Promise<Identity> {
    options.signal?.throwIfAborted();
    try {
      return await Identity.load(path, options);
    } catch (error) {
      const cause = (error as AnttError).cause as NodeJS.ErrnoException | undefined;
      if (cause?.code !== 'ENOENT') throw error;
    }
    const identity = Identity.generate();
    await mkdir(dirname(path), { recursive: true, mode: DIRECTORY_MODE });
    try {
      // 'wx' fails if another process created the file first; then we load theirs.
      await writeFile(path, identity.toFileText(), { mode: FILE_MODE, flag: 'wx' });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return Identity.load(path, options);
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `cannot create identity file ${path} (${(cause as NodeJS.ErrnoException).code ?? cause})`,
        { cause },
      );
    }
    return identity;
  }

  /** Saves to `path` (mode 0600, exclusive: never overwrites an existing identity). */
  async save(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: DIRECTORY_MODE });
    await writeFile(path, this.toFileText(), { mode: FILE_MODE, flag: 'wx' });
  }

  /** Parses identity file text; `source` names the file in error messages. */
  static parse(text: string, source = 'identity'): Identity {
    const fail = (why: string): never => {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, `identity file ${source} is not usable: ${why}`);
    };
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return fail('it is not JSON');
    }
    if (typeof data !== 'object' || data === null) return fail('it is not a JSON object');
    const record = data as Record<string, unknown>;
    if (record.type !== FILE_TYPE) return fail(`"type" is not "${FILE_TYPE}"`);
    if (record.version !== FILE_VERSION) {
      return fail(
        `version ${JSON.stringify(record.version)} is not supported (this package reads ${FILE_VERSION})`,
      );
    }
    if (record.algorithm !== 'x25519') return fail('"algorithm" is not "x25519"');
    const privateKey = decodeKey(record.privateKey);
    if (!privateKey) return fail('"privateKey" is not 32 bytes of base64url');
    const identity = Identity.fromPrivateKey(privateKey);
    if (record.publicKey !== undefined && record.publicKey !== base64url(identity.publicKey)) {
      return fail('"publicKey" does not belong to "privateKey" (the file was edited or damaged)');
    }
    if (record.peerId !== undefined && record.peerId !== identity.peerId) {
      return fail('"peerId" does not belong to "privateKey" (the file was edited or damaged)');
    }
    return identity;
  }

  /** The identity file text (contains the private key: store it 0600). */
  toFileText(): string {
    const record = {
      type: FILE_TYPE,
      version: FILE_VERSION,
      algorithm: 'x25519',
      privateKey: base64url(this.keyPair.privateKey),
      publicKey: base64url(this.publicKey),
      peerId: this.peerId,
    };
    return `${JSON.stringify(record, null, 2)}\n`;
  }

  /** Never prints the private key. */
  toJSON(): { peerId: PeerId; publicKey: string } {
    return { peerId: this.peerId, publicKey: base64url(this.publicKey) };
  }

  toString(): string {
    return `Identity(${this.peerId})`;
  }
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function decodeKey(value: unknown): Buffer | null {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(value)) return null;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.length === 32 ? bytes : null;
}
