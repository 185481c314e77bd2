/** The summary table the demo ends with. */

export interface TransportResult {
  transport: 'udp' | 'tcp';
  /** How the peers reached each other after meeting at the rendezvous: 'direct' or 'relayed'. */
  path?: string;
  connectMs?: number;
  encrypted?: boolean | undefined;
  goodputBytesPerSecond?: number | undefined;
  rttMs?: number | undefined;
  retransmissions?: number;
  retransmissionsNote?: string;
  hashOk?: boolean;
  error?: string;
}

const COLUMNS = [
  'transport',
  'path',
  'encrypted',
  'connect',
  'goodput',
  'rtt (idle)',
  'retransmissions',
  'SHA-256',
];

export function formatTable(results: TransportResult[]): string {
  const rows = results.map((result) => [
    result.transport,
    result.path ?? '-',
    result.encrypted === true ? 'yes' : 'NO',
    result.connectMs === undefined ? '-' : milliseconds(result.connectMs),
    result.goodputBytesPerSecond === undefined
      ? '-'
      : `${(result.goodputBytesPerSecond / 1e6).toFixed(1)} MB/s`,
    result.rttMs === undefined ? '-' : milliseconds(result.rttMs),
    result.retransmissions === undefined ? 'n/a' : String(result.retransmissions),
    result.error !== undefined ? 'FAILED' : result.hashOk ? 'hash ok' : 'MISMATCH',
  ]);
  const widths = COLUMNS.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

function milliseconds(value: number): string {
  return value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`;
}
