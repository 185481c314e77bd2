import { chooseRoles } from '@antt/secure';
import { describe, expect, it } from 'vitest';
import { randomConnectionId } from './handshake.js';
import { type ConnectionId, writeUint32 } from './wire.js';

const PAIRS = 200;

/** The bytes noise-exchange.ts compares: high word, then low word, big-endian. */
function idBytes(id: ConnectionId): Uint8Array {
  const bytes = new Uint8Array(8);
  writeUint32(bytes, 0, id.hi);
  writeUint32(bytes, 4, id.lo);
  return bytes;
}

describe('randomConnectionId', () => {
  it('with opposite preferred roles, the side that prefers to initiate always initiates', () => {
    for (let i = 0; i < PAIRS; i++) {
      const wantsToStart = randomConnectionId('initiator');
      const wantsToAnswer = randomConnectionId('responder');
      expect(chooseRoles(idBytes(wantsToStart), idBytes(wantsToAnswer))).toBe('initiator');
      expect(chooseRoles(idBytes(wantsToAnswer), idBytes(wantsToStart))).toBe('responder');
    }
  });

  it('without a preference both roles occur, and an ID is never all zeros', () => {
    const roles = new Set<string>();
    for (let i = 0; i < PAIRS; i++) {
      const a = randomConnectionId();
      const b = randomConnectionId('responder');
      expect(a.hi !== 0 || a.lo !== 0).toBe(true);
      roles.add(chooseRoles(idBytes(a), idBytes(b)));
    }
    expect(roles).toEqual(new Set(['initiator', 'responder']));
  });
});
