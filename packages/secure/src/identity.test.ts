import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnttError, ErrorCode } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { Identity } from './identity.js';

const posix = process.platform !== 'win32';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'antt-identity-'));
}

describe('Identity', () => {
  it('generates a 32-byte public key and a peer id', () => {
    const identity = Identity.generate();
    expect(identity.publicKey).toHaveLength(32);
    expect(identity.peerId).toMatch(/^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
    expect(JSON.stringify(identity)).not.toContain('privateKey');
  });

  it.runIf(posix)('creates the file 0600 in a 0700 directory on first use, then loads it', async () => {
    const dir = await tempDir();
    const path = join(dir, 'nested', 'identity.json');
    const created = await Identity.loadOrCreate(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'nested'))).mode & 0o777).toBe(0o700);
    const loaded = await Identity.loadOrCreate(path);
    expect(loaded.peerId).toBe(created.peerId);
    const file = JSON.parse(await readFile(path, 'utf8'));
    expect(file).toMatchObject({
      type: 'antt-identity',
      version: 1,
      algorithm: 'x25519',
      peerId: created.peerId,
    });
  });

  it.runIf(posix)('refuses a file others can read, telling the user to chmod 600', async () => {
    const path = join(await tempDir(), 'identity.json');
    await Identity.generate().save(path);
    await chmod(path, 0o644);
    const error = await Identity.load(path).catch((caught: unknown) => caught);
    expect(AnttError.is(error)).toBe(true);
    expect((error as AnttError).code).toBe(ErrorCode.AUTH);
    expect((error as Error).message).toContain(`chmod 600 ${path}`);
    expect((error as Error).message).toContain('mode 644');
  });

  it('names the file when its content is not an identity', async () => {
    const dir = await tempDir();
    const cases: [string, RegExp][] = [
      ['not json', /not JSON/],
      ['{"type":"other"}', /"type" is not "antt-identity"/],
      ['{"type":"antt-identity","version":9}', /version 9 is not supported/],
      ['{"type":"antt-identity","version":1,"algorithm":"x25519","privateKey":"short"}', /privateKey/],
    ];
    for (const [index, [text, why]] of cases.entries()) {
      const path = join(dir, `bad-${index}.json`);
      await writeFile(path, text, { mode: 0o600 });
      const error = await Identity.load(path).catch((caught: unknown) => caught);
      expect((error as AnttError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toMatch(why);
    }
  });

  it('detects a public key or peer id that does not match the private key', async () => {
    const record = JSON.parse(Identity.generate().toFileText());
    record.peerId = Identity.generate().peerId;
    expect(() => Identity.parse(JSON.stringify(record), 'x.json')).toThrow(/"peerId" does not belong/);
  });

  it('reports a missing file with its path', async () => {
    const path = join(await tempDir(), 'missing.json');
    await expect(Identity.load(path)).rejects.toThrow(`cannot read identity file ${path} (ENOENT)`);
  });

  it('round-trips through the file text', () => {
    const identity = Identity.generate();
    expect(Identity.parse(identity.toFileText()).peerId).toBe(identity.peerId);
  });
});
