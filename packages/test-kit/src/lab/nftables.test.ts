import { describe, expect, it } from 'vitest';
import { lossRuleset, replaceTable, routerRuleset } from './nftables.js';

describe('routerRuleset', () => {
  const base = { mapping: 'endpoint-independent', unsolicited: 'drop', blockUdp: false, wan: 'wan' } as const;

  it('masquerades plainly for endpoint-independent mapping, fully-random for endpoint-dependent', () => {
    expect(routerRuleset(base)).toMatch(/oifname "wan" masquerade\n/);
    expect(routerRuleset({ ...base, mapping: 'endpoint-dependent' })).toContain(
      'oifname "wan" masquerade fully-random',
    );
  });

  it('drops unsolicited inbound silently, or answers it with RST / port unreachable', () => {
    const silent = routerRuleset(base);
    expect(silent).not.toContain('reject');
    expect(silent.match(/iifname "wan" drop/g)).toHaveLength(2); // forward and input
    const resetting = routerRuleset({ ...base, unsolicited: 'reset' });
    expect(resetting).toContain('meta l4proto tcp reject with tcp reset');
    expect(resetting).toContain('meta l4proto udp reject with icmp type port-unreachable');
    // Replies to flows from inside are accepted before any of that.
    expect(resetting.indexOf('ct state established,related accept')).toBeLessThan(
      resetting.indexOf('reject'),
    );
  });

  it('blocks forwarded UDP only when asked', () => {
    expect(routerRuleset(base)).not.toContain('meta l4proto udp drop');
    expect(routerRuleset({ ...base, blockUdp: true })).toContain('meta l4proto udp drop');
  });
});

describe('routerRuleset with a delay', () => {
  const base = { mapping: 'endpoint-independent', unsolicited: 'drop', blockUdp: false, wan: 'wan' } as const;

  it('leaves the LAN-side passes through the TUN device untracked, and the NAT rule as it was', () => {
    expect(routerRuleset(base)).not.toContain('notrack');
    const delayed = routerRuleset({ ...base, delay: { lanSubnet: '10.0.7.0/24' } });
    expect(delayed).toContain('hook prerouting priority raw');
    expect(delayed).toContain('iifname "lan" notrack');
    expect(delayed).toContain('iifname "dly" ip daddr 10.0.7.0/24 notrack');
    expect(delayed).toMatch(/oifname "wan" masquerade\n/);
  });
});

describe('lossRuleset', () => {
  it('draws against a threshold in hundredths of a percent, on the way in and out', () => {
    const rules = lossRuleset(2.5);
    expect(rules.match(/numgen random mod 10000 < 250 drop/g)).toHaveLength(2);
    expect(rules).toContain('hook prerouting');
    expect(rules).toContain('hook output');
    expect(lossRuleset(0)).not.toContain('numgen');
  });

  it('replaces a table atomically whether or not it exists', () => {
    expect(replaceTable('t', 'table ip t {}\n')).toBe('table ip t\ndelete table ip t\ntable ip t {}\n');
  });
});
