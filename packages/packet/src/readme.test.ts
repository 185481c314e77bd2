/**
 * The documentation is part of the contract: the README's worked example must be exactly what the
 * encoder writes (someone may build a decoder in another language from it), and the runnable example
 * in index.ts must run and print what its comments say.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bytes, toHex } from '../test/hex.js';
import { Packet, PacketError } from './index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const indexSource = readFileSync(new URL('./index.ts', import.meta.url), 'utf8');

function between(text: string, begin: string, end: string): string {
  const from = text.indexOf(begin);
  const to = text.indexOf(end, from + begin.length);
  if (from < 0 || to < 0) throw new Error(`markers ${begin} / ${end} not found`);
  return text.slice(from + begin.length, to);
}

describe('README worked example', () => {
  const example = new Packet(
    7,
    -2,
    'héllo',
    new Uint8Array([0xca, 0xfe]),
    { id: 300, ok: true, tags: ['a', null] },
    1.5,
    -1000n,
  );

  it('lists, line by line, exactly the bytes encode() writes', () => {
    const block = between(readme, '<!-- worked-example:begin -->', '<!-- worked-example:end -->');
    const annotatedHex = block
      .split('\n')
      .filter((line) => /^\s*[0-9a-f]{2}(\s[0-9a-f]{2})*(\s{2,}|$)/.test(line))
      .map((line) => line.trim().split(/\s{2,}/)[0])
      .join(' ');
    expect(toHex(bytes(annotatedHex))).toBe(toHex(example.encode()));
  });

  it('gives the same bytes on one line, with the right count, and decodes back', () => {
    const oneLine = /In one line: `([0-9a-f]+)`/.exec(readme)?.[1];
    expect(oneLine).toBe(toHex(example.encode()));
    expect(readme).toContain(`is these ${example.encode().length} bytes`);
    expect(Packet.decode(bytes(oneLine!)).equals(example)).toBe(true);
  });

  it('shows varint examples that match the encoder', () => {
    for (const [value, hex] of [
      [0, '00'],
      [127, '7f'],
      [128, '80 01'],
      [300, 'ac 02'],
    ] as const) {
      expect(readme).toContain(`\`${value}\` = \`${hex}\``);
    }
    expect(toHex(new Packet(300).encode())).toBe('0101c3ac02');
    expect(toHex(new Packet(2 ** 53 - 1).encode())).toBe('0101c3ffffffffffffff0f');
  });
});

describe('index.ts @packageDocumentation example', () => {
  it('runs and prints what its comments promise', () => {
    const code = between(indexSource, '```ts', '```')
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, ''))
      .filter((line) => !line.startsWith('import '))
      .join('\n');
    const printed: unknown[] = [];
    const fakeConsole = { log: (value: unknown) => printed.push(value) };
    new Function('Packet', 'PacketError', 'console', code)(Packet, PacketError, fakeConsole);
    expect(printed).toEqual([true, 'hello', 'ANTT_PACKET_UNKNOWN_TAG']);
  });
});
