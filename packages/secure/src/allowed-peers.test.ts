import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedPeersPredicate, loadAllowedPeers, parseAllowedPeers } from './allowed-peers.js';
import { Identity } from './identity.js';

describe('allowed peers', () => {
  const a = Identity.generate().peerId;
  const b = Identity.generate().peerId;

  it('parse one id per line with comments, names and blank lines', () => {
    const text = `# my machines\n${a}  laptop\n\n   ${b.toLowerCase()} # desktop\n`;
    expect(parseAllowedPeers(text)).toEqual(new Set([a, b]));
  });

  it('name the file and line of a bad entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'antt-allowed-'));
    const path = join(dir, 'allowed_peers');
    await writeFile(path, `${a}\nnot-a-peer-id\n`);
    await expect(loadAllowedPeers(path)).rejects.toThrow(`${path}:2:`);
    await expect(loadAllowedPeers(join(dir, 'missing'))).rejects.toThrow(
      /cannot read the allowed-peers file .*ENOENT/,
    );
  });

  it('load a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'antt-allowed-'));
    const path = join(dir, 'allowed_peers');
    await writeFile(path, `${a}\n`);
    expect(await loadAllowedPeers(path)).toEqual(new Set([a]));
  });

  it('become a predicate from a list or a function', () => {
    expect(allowedPeersPredicate([a])(a)).toBe(true);
    expect(allowedPeersPredicate([a])(b)).toBe(false);
    expect(allowedPeersPredicate((id) => id === b)(b)).toBe(true);
    expect(() => allowedPeersPredicate(['typo'])).toThrow(/not a peer id/);
  });
});
