import { ErrorCode } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { SimultaneousOpener } from './simultaneous-open.js';

function opener(
  counts: Partial<Pick<SimultaneousOpener, 'attempts' | 'refused' | 'unanswered' | 'resetDuringHandshake'>>,
) {
  const o = new SimultaneousOpener({
    localPort: 4000,
    localAddress: undefined,
    remote: { host: '203.0.113.9', port: 4001 },
    family: 4,
  });
  Object.assign(o, counts);
  return o.deadlineError(performance.now());
}

describe('SimultaneousOpener.deadlineError', () => {
  it('says every attempt was refused, even if the last one was still in flight at the deadline', () => {
    for (const counts of [
      { attempts: 12, refused: 12 },
      { attempts: 12, refused: 11, unanswered: 1 },
    ]) {
      const error = opener(counts);
      expect(error.code).toBe(ErrorCode.REFUSED);
      expect(error.message).toMatch(
        /^could not connect from local port 4000 to 203\.0\.113\.9:4001: every attempt \(12 attempts in .*\) was refused with a TCP reset: the peer is not running, or a router between you answers unsolicited SYNs with resets$/,
      );
    }
  });

  it('says nothing answered when SYNs were dropped', () => {
    const error = opener({ attempts: 1, unanswered: 1 });
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.message).toMatch(/no answer at all \(no SYN, no reset\)/);
  });

  it('gives the counts when some attempts were refused and others were not answered', () => {
    const error = opener({ attempts: 5, refused: 3, unanswered: 1 });
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.message).toMatch(/3 of 5 attempts were refused/);
  });

  it('blames resets during the handshake when connections formed', () => {
    const error = opener({ attempts: 3, refused: 1, resetDuringHandshake: 2 });
    expect(error.code).toBe(ErrorCode.RESET);
    expect(error.message).toMatch(/formed 2 time\(s\) but was reset before the Antt handshake finished/);
  });
});
