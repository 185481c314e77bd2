/**
 * nftables rulesets for lab routers and for random loss, as plain text (so they are unit-testable
 * without root and readable in a failure message).
 */
import { delayRawChain } from './delay.js';

/** How a router picks the outside port of a new flow. */
export type NatMapping = 'endpoint-independent' | 'endpoint-dependent';
/** What a router does with unsolicited inbound traffic on its WAN side. */
export type UnsolicitedPolicy = 'drop' | 'reset';

export interface RouterRulesetOptions {
  mapping: NatMapping;
  unsolicited: UnsolicitedPolicy;
  blockUdp: boolean;
  wan: string;
  /** The router delays forwarded packets through a TUN device (see delay.ts); its LAN subnet. */
  delay?: { lanSubnet: string };
}

export const ROUTER_TABLE = 'antt_router';
export const IMPAIR_TABLE = 'antt_impair';
/** numgen's modulus for loss: percent with two decimals. */
export const LOSS_MODULUS = 10_000;

/**
 * A router's ruleset.
 * - Mapping: plain `masquerade` keeps the source port when it is free, so one inside socket keeps one
 *   outside port toward every destination (endpoint-independent); `masquerade fully-random` draws a new
 *   outside port for every new flow, i.e. per destination (endpoint-dependent, "symmetric").
 * - Filtering is conntrack's: only replies to flows the inside started come back in (address-and-port
 *   dependent filtering) whichever mapping is chosen.
 * - Unsolicited inbound on the WAN, for the router itself or forwarded: `drop` is silent; `reset` answers
 *   TCP with a RST and UDP with ICMP port unreachable. The rejected packet is dropped before conntrack
 *   confirms it, so it leaves no entry behind that would change a later mapping (LAB-NOTES pitfall 1).
 */
export function routerRuleset(options: RouterRulesetOptions): string {
  const wan = JSON.stringify(options.wan);
  const masquerade = options.mapping === 'endpoint-dependent' ? 'masquerade fully-random' : 'masquerade';
  const unsolicited =
    options.unsolicited === 'reset'
      ? [
          `iifname ${wan} meta l4proto tcp reject with tcp reset`,
          `iifname ${wan} meta l4proto udp reject with icmp type port-unreachable`,
          `iifname ${wan} meta l4proto icmp accept`,
          `iifname ${wan} drop`,
        ]
      : [`iifname ${wan} drop`];
  const lines = [
    `table ip ${ROUTER_TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname ${wan} ${masquerade}`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...(options.blockUdp ? ['    meta l4proto udp drop'] : []),
    '    ct state established,related accept',
    ...unsolicited.map((rule) => `    ${rule}`),
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    iifname "lo" accept',
    '    ct state established,related accept',
    ...unsolicited.map((rule) => `    ${rule}`),
    '  }',
    ...(options.delay ? delayRawChain(options.delay.lanSubnet) : []),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Random loss for a namespace: every packet entering its stack (prerouting: forwarded and local) or
 * leaving it (output) is dropped with probability `percent`/100. The prerouting hook runs before conntrack,
 * so a lost packet creates no state, as on a real wire.
 */
export function lossRuleset(percent: number): string {
  const threshold = Math.round((percent / 100) * LOSS_MODULUS);
  const lines = [
    `table ip ${IMPAIR_TABLE} {`,
    '  chain ingress_loss {',
    '    type filter hook prerouting priority raw - 10; policy accept;',
    ...(threshold > 0 ? [`    numgen random mod ${LOSS_MODULUS} < ${threshold} drop`] : []),
    '  }',
    '  chain egress_loss {',
    '    type filter hook output priority raw - 10; policy accept;',
    ...(threshold > 0 ? [`    numgen random mod ${LOSS_MODULUS} < ${threshold} drop`] : []),
    '  }',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** Prefix that makes `nft -f -` replace a table atomically (create-if-missing, then delete, then define). */
export function replaceTable(table: string, ruleset: string): string {
  return `table ip ${table}\ndelete table ip ${table}\n${ruleset}`;
}
