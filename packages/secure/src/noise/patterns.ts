/**
 * Handshake patterns (Noise spec rev 34 §7) and protocol-name parsing (§8). Antt speaks XX and XXpsk3;
 * NN is here because the published vectors exercise it cheaply.
 */
import { AnttError, ErrorCode } from '@antt/core';
import type { CipherName } from './aead.js';

export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

export interface HandshakePattern {
  readonly name: string;
  /** Pre-message tokens known before the handshake: [initiator's, responder's]. */
  readonly preMessages: readonly [readonly Token[], readonly Token[]];
  /** Message i is written by the initiator when i is even. */
  readonly messages: readonly (readonly Token[])[];
}

const BASE_PATTERNS: Record<string, HandshakePattern> = {
  NN: { name: 'NN', preMessages: [[], []], messages: [['e'], ['e', 'ee']] },
  XX: {
    name: 'XX',
    preMessages: [[], []],
    messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
  },
};

export interface ProtocolName {
  readonly name: string;
  readonly pattern: HandshakePattern;
  readonly pskCount: number;
  readonly cipher: CipherName;
}

const NAME_SYNTAX = /^Noise_([A-Z]+)((?:psk\d)(?:\+psk\d)*)?_25519_(ChaChaPoly|AESGCM)_SHA256$/;

/** Parses names such as `Noise_XXpsk3_25519_ChaChaPoly_SHA256`; other DH or hash functions are refused. */
export function parseProtocolName(name: string): ProtocolName {
  const match = NAME_SYNTAX.exec(name);
  const base = match ? BASE_PATTERNS[match[1]!] : undefined;
  if (!match || !base) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `unsupported Noise protocol ${JSON.stringify(name)}: this package speaks NN or XX (optionally pskN) ` +
        'with 25519, ChaChaPoly or AESGCM, and SHA256',
    );
  }
  const messages = base.messages.map((tokens) => [...tokens]);
  const modifiers = match[2] ? match[2].split('+') : [];
  for (const modifier of modifiers) {
    // §9.2: psk0 goes at the start of the first message, pskN at the end of message N.
    const position = Number(modifier.slice(3));
    if (position === 0) messages[0]!.unshift('psk');
    else if (position <= messages.length) messages[position - 1]!.push('psk');
    else throw new AnttError(ErrorCode.INVALID_ARGUMENT, `${modifier} does not fit the ${base.name} pattern`);
  }
  return {
    name,
    pattern: { name: `${base.name}${modifiers.join('+')}`, preMessages: base.preMessages, messages },
    pskCount: modifiers.length,
    cipher: match[3] as CipherName,
  };
}
