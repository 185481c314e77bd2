import { describe, expect, it } from 'vitest';
import { LabError } from './command.js';
import { checkNodeName, isStaleNamespace, newLabId, parseNamespaceName, parseNetnsList } from './registry.js';

describe('lab names', () => {
  it('embed pid, process start time, thread and a counter, unique per call', () => {
    const first = newLabId();
    const second = newLabId();
    expect(first).toMatch(new RegExp(`^antt-${process.pid}-[0-9a-z]+-\\d+-\\d+$`));
    expect(second).not.toBe(first);
    expect(parseNamespaceName(`${first}-natA`)?.labId).toBe(first);
  });

  it('count a namespace as stale only when its creator (pid and start time) is gone', () => {
    const ours = `${newLabId()}-host`;
    expect(isStaleNamespace(ours)).toBe(false);
    const parsed = parseNamespaceName(ours)!;
    // Same pid, other start time: the pid was recycled, the lab is an orphan.
    expect(isStaleNamespace(ours.replace(`-${parsed.start}-`, '-zz-'))).toBe(true);
    expect(isStaleNamespace('someone-elses-namespace')).toBe(false);
  });

  it('accept short node names only', () => {
    expect(checkNodeName('natA')).toBe('natA');
    for (const bad of ['', 'has space', 'a-b', 'x'.repeat(25), '../etc'])
      expect(() => checkNodeName(bad)).toThrow(LabError);
  });

  it('parse `ip netns list` with and without ids', () => {
    expect(parseNetnsList('antt-1-a-0-1-x (id: 3)\nother\n\n')).toEqual(['antt-1-a-0-1-x', 'other']);
  });
});
