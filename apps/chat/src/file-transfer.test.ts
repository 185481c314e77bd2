import { describe, expect, it } from 'vitest';
import { sanitizeFileName } from './file-transfer.js';
import { decodeMessage, encodeMessage } from './messages.js';
import { cleanForTerminal } from './session.js';

describe('sanitizeFileName', () => {
  it.each([
    ['report.pdf', 'report.pdf'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\ada\\notes.txt', 'notes.txt'],
    ['.bashrc', 'bashrc'],
    ['..', 'received-file'],
    ['', 'received-file'],
    ['a\u001b[31mred\u0007.txt', 'a_[31mred_.txt'],
    ['what?<>|.txt', 'what____.txt'],
    ['trailing. ', 'trailing'],
  ])('%j -> %j', (offered, saved) => {
    expect(sanitizeFileName(offered)).toBe(saved);
  });

  it('keeps the extension when shortening a long name', () => {
    const name = sanitizeFileName(`${'x'.repeat(300)}.tar.gz`);
    expect(name.length).toBe(200);
    expect(name.endsWith('.gz')).toBe(true);
  });
});

describe('chat messages', () => {
  it('round-trip', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    for (const message of [
      { kind: 'hello', name: 'ada' },
      { kind: 'text', id: 'x.1', text: 'hi' },
      { kind: 'ack', id: 'x.1' },
      { kind: 'ping', sentAt: 12.5 },
      { kind: 'file-start', name: 'a.bin', size: 3 },
      { kind: 'file-chunk', bytes },
      { kind: 'file-end', sha256: 'a'.repeat(64) },
      { kind: 'file-result', ok: true, detail: 'saved' },
    ] as const) {
      expect(decodeMessage(encodeMessage(message).encode())).toEqual(message);
    }
  });

  it('turn anything else into undefined instead of throwing', () => {
    expect(decodeMessage(new Uint8Array([0xff, 0x00]))).toBeUndefined();
    expect(
      decodeMessage(encodeMessage({ kind: 'hello', name: 'x' }).encode().subarray(0, 3)),
    ).toBeUndefined();
    expect(decodeMessage(encodeMessage({ kind: 'file-end', sha256: 'not hex' }).encode())).toBeUndefined();
  });
});

describe('cleanForTerminal', () => {
  it('neutralises escape sequences and control characters from the peer', () => {
    expect(cleanForTerminal('hi\u001b[2J\r\nthere\tx')).toBe('hi?[2J??there    x');
  });
});
