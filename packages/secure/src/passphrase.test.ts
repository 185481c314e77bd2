import { describe, expect, it } from 'vitest';
import { derivePassphraseKey } from './passphrase.js';

describe('derivePassphraseKey', () => {
  it('is deterministic per passphrase and context, and cached', async () => {
    const first = await derivePassphraseKey('correct horse battery staple', { context: 'room-1' });
    // A cache hit hands back the same promise: no second scrypt run.
    const pending = derivePassphraseKey('correct horse battery staple', { context: 'room-1' });
    expect(derivePassphraseKey('correct horse battery staple', { context: 'room-1' })).toBe(pending);
    expect(await pending).toEqual(first);
    expect(first).toHaveLength(32);
    expect(await derivePassphraseKey('correct horse battery staple', { context: 'room-2' })).not.toEqual(
      first,
    );
    expect(await derivePassphraseKey('Correct horse battery staple', { context: 'room-1' })).not.toEqual(
      first,
    );
  });

  it('refuses an empty passphrase', async () => {
    await expect(derivePassphraseKey('')).rejects.toThrow(/non-empty/);
  });
});
