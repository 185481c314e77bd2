import { formatAddress } from '@antt/core';
import type { MappingObservation, NatReport } from './check.js';

const LABEL_WIDTH = 17;

/**
 * What the report means for direct connections, in one sentence (the last line of
 * {@link formatNatReport}).
 */
export function natSummary(report: NatReport): string {
  if (report.udpBlocked) {
    return 'UDP seems blocked (no STUN server answered): direct connections are not possible from here; Antt falls back to a relay';
  }
  if (!report.publicAddress) {
    return 'No STUN server gave a usable answer, so nothing can be said about direct connections';
  }
  if (report.behindNat === false) {
    return report.filtering.behaviour === 'address-and-port-dependent'
      ? 'No NAT, but a firewall only admits replies: direct UDP connections work when both sides send (hole punching)'
      : 'No NAT: your address is public and direct UDP connections should work with most peers';
  }
  switch (report.mapping.behaviour) {
    case 'endpoint-independent':
      return 'Direct UDP connections should work with most peers';
    case 'address-dependent':
    case 'address-and-port-dependent':
    case 'endpoint-dependent': {
      const sequential =
        report.portAllocation.pattern === 'sequential'
          ? ' (it allocates ports sequentially, so port prediction may help)'
          : '';
      return `Your NAT picks a new port for every destination (endpoint-dependent mapping)${sequential}: direct connections need the peer to have an easy NAT; otherwise Antt falls back to a relay`;
    }
    default:
      return 'Mapping behaviour unknown: direct connections may work; check with a server that supports RFC 5780 or give two servers';
  }
}

/** Plain text a person can read: one line per finding with its evidence, then the summary. */
export function formatNatReport(report: NatReport): string {
  const lines: string[] = [];
  const line = (label: string, text: string): void => {
    lines.push(`${(label ? `${label}:` : '').padEnd(LABEL_WIDTH)}${text}`);
  };

  if (report.udpBlocked || !report.server || !report.publicAddress) {
    line('UDP', report.udpBlocked ? 'blocked? no STUN server answered' : 'no usable answer');
    for (const observation of report.mapping.observations) line('', describeObservation(observation));
  } else {
    const rtt = report.rttMs === undefined ? '' : ` in ${formatRtt(report.rttMs)}`;
    line(
      'UDP',
      `yes, ${formatAddress(report.server)} answered${rtt} (RFC 5780 NAT discovery: ${report.rfc5780 ? 'supported' : 'not supported'})`,
    );
    line(
      'Public address',
      `${formatAddress(report.publicAddress)} (local socket ${formatAddress(report.local)})`,
    );
    line(
      'Behind NAT',
      report.behindNat
        ? 'yes (the server saw another address or port than the socket has)'
        : "no (the server saw this machine's own address and port)",
    );
    const evidence = report.mapping.observations.map(describeObservation).join('; ');
    line('Mapping', `${report.mapping.behaviour}${evidence ? ` (${evidence})` : ''}`);
    if (report.mapping.note) line('', report.mapping.note);

    const tests = report.filtering.tests
      .map(
        (t) =>
          `answer from changed ${t.changeIp ? 'IP and port' : 'port'}: ${t.answered ? `arrived from ${formatAddress(t.from!)}` : 'never arrived'}`,
      )
      .join('; ');
    line('Filtering', `${report.filtering.behaviour}${tests ? ` (${tests})` : ''}`);
    if (report.filtering.note) line('', report.filtering.note);

    const allocation = report.portAllocation;
    const ports = allocation.samples
      .map((s) => (s.mapped ? `${s.local.port}→${s.mapped.port}` : `${s.local.port}→no answer`))
      .join(', ');
    const delta = allocation.delta === undefined ? '' : `, step ${allocation.delta}`;
    line('Port allocation', `${allocation.pattern}${delta}${ports ? ` (local→mapped: ${ports})` : ''}`);
    const hairpin =
      report.hairpinning.works === undefined ? 'unknown' : report.hairpinning.works ? 'yes' : 'no';
    line('Hairpinning', `${hairpin} (${report.hairpinning.note})`);
  }
  for (const problem of report.problems) line('Problem', problem);
  lines.push(`Summary: ${natSummary(report)}.`);
  return lines.join('\n');
}

function describeObservation(observation: MappingObservation): string {
  const server = formatAddress(observation.server);
  return observation.mapped
    ? `${server} saw ${formatAddress(observation.mapped)}`
    : `${server}: ${observation.error ?? 'no answer'}`;
}

function formatRtt(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}
