/**
 * Delay for lab routers, without netem (LAB-NOTES: this kernel has no `sch_netem`): a userspace hop.
 *
 * The router gets a TUN device. Policy routing sends every packet it would forward between its LAN and
 * its WAN into that device first; a small process reads each packet, holds it `delayMs`, and writes it
 * back unchanged; the kernel then routes it on by the main table (`iif dly` matches no policy rule, so
 * nothing loops). Each direction crosses the hop once, so a host behind the router sees its round trip to
 * the internet grow by twice the delay, for UDP, TCP and ICMP alike.
 *
 * Conntrack must see each flow once, on the WAN-side pass, so the NAT rules work as they do without a
 * delay: packets coming back from the TUN device toward the LAN, and packets from the LAN toward the TUN
 * device, are `notrack` (see {@link delayRawChain}).
 *
 * Opening a TUN device needs the TUNSETIFF ioctl, which Node cannot make; `perl` (part of every Debian
 * base system) opens the device, makes the ioctl and execs Node with the descriptor inherited.
 */

/** The router's TUN device. */
export const DELAY_DEVICE = 'dly';
/** The routing table that sends forwarded packets into the TUN device. */
export const DELAY_TABLE = '100';
/** Policy rule priorities: after `local` (0), before `main` (32766). */
export const DELAY_RULE_PRIORITY = 100;
/** The largest delay a router accepts. */
export const MAX_DELAY_MS = 10_000;

/** linux/if_tun.h */
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;

/**
 * Opens `/dev/net/tun`, attaches it to the device named by the first argument, and execs the rest of the
 * arguments with the descriptor's number appended. `$^F` keeps descriptors up to 1023 open across exec.
 */
export const TUN_OPENER_SOURCE = String.raw`
$^F = 1023;
my ($device, @command) = @ARGV;
open(my $tun, '+<', '/dev/net/tun') or die "open /dev/net/tun: $!\n";
ioctl($tun, ${TUNSETIFF}, pack('a16 s x22', $device, ${IFF_TUN | IFF_NO_PI})) or die "TUNSETIFF $device: $!\n";
exec { $command[0] } @command, fileno($tun) or die "exec $command[0]: $!\n";
`;

/**
 * The delaying process (CommonJS, run with `node -e`): arguments are the delay in ms and the TUN
 * descriptor. One read at a time keeps the packets in order; a packet leaves `delayMs` after it came in
 * (later when the event loop is late, never sooner). The queue is bounded: beyond it, packets are dropped,
 * as a router's buffer would.
 */
export const DELAY_SOURCE = String.raw`
'use strict';
const fs = require('node:fs');
const [delayArg, fdArg] = process.argv.slice(2);
const delayMs = Number(delayArg);
const fd = Number(fdArg);
const MAX_PACKET_BYTES = 65536;
const MAX_QUEUED_PACKETS = 20000;
const queue = [];
let head = 0;
let timer;
let dropped = 0;
function release() {
  timer = undefined;
  const now = performance.now();
  while (head < queue.length && queue[head].due <= now) {
    try { fs.writeSync(fd, queue[head].packet); } catch {}
    queue[head++] = undefined;
  }
  if (head > 1024 && head * 2 > queue.length) { queue.splice(0, head); head = 0; }
  if (head < queue.length) timer = setTimeout(release, Math.max(0, queue[head].due - now));
}
function read() {
  const buffer = Buffer.allocUnsafe(MAX_PACKET_BYTES);
  fs.read(fd, buffer, 0, MAX_PACKET_BYTES, null, (error, bytes) => {
    if (error) {
      if (error.code === 'EAGAIN' || error.code === 'EINTR') return read();
      process.stderr.write('tun read failed: ' + error.message + '\n');
      process.exit(1);
    }
    if (queue.length - head >= MAX_QUEUED_PACKETS) dropped++;
    else {
      queue.push({ due: performance.now() + delayMs, packet: buffer.subarray(0, bytes) });
      if (timer === undefined) timer = setTimeout(release, delayMs);
    }
    read();
  });
}
process.on('SIGTERM', () => { process.stdout.write('DROPPED ' + dropped + '\n'); process.exit(0); });
process.stdout.write('DELAYING ' + delayMs + '\n');
read();
`;

/**
 * nftables chain for a delaying router (inside the router's table): the LAN-side passes through the
 * TUN device are not tracked, so conntrack and NAT see each packet once, on the pass between the TUN
 * device and the WAN, exactly as on a router without delay.
 */
export function delayRawChain(lanSubnet: string): string[] {
  const device = JSON.stringify(DELAY_DEVICE);
  return [
    '  chain delay_notrack {',
    '    type filter hook prerouting priority raw; policy accept;',
    '    iifname "lan" notrack',
    `    iifname ${device} ip daddr ${lanSubnet} notrack`,
    '  }',
  ];
}

/** `ip` commands (arguments after `ip -n NS`) that route forwarded traffic through the TUN device. */
export function delayRoutes(wan: string): string[][] {
  return [
    ['link', 'set', DELAY_DEVICE, 'up'],
    ['route', 'add', 'default', 'dev', DELAY_DEVICE, 'table', DELAY_TABLE],
    ['rule', 'add', 'iif', 'lan', 'lookup', DELAY_TABLE, 'pref', String(DELAY_RULE_PRIORITY)],
    ['rule', 'add', 'iif', wan, 'lookup', DELAY_TABLE, 'pref', String(DELAY_RULE_PRIORITY + 1)],
  ];
}

/**
 * Packets come back out of the TUN device with addresses that route via other interfaces: reverse-path
 * filtering would drop them.
 */
export const DELAY_SYSCTLS = [
  'net.ipv4.conf.all.rp_filter=0',
  'net.ipv4.conf.default.rp_filter=0',
  `net.ipv4.conf.${DELAY_DEVICE}.rp_filter=0`,
];
