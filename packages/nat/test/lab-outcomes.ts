/**
 * What the lab matrix tests read back from two `fixtures/lab-peer.ts` processes (PATH, SHA, TRANSFER,
 * IDLE and ERROR lines), the matrix line each row prints, and the check every row shares: both peers
 * finished and handled the same bytes.
 */
import type { LabProcess } from '@antt/test-kit';
import { expect } from 'vitest';
import type { ConnectionPath } from '../src/connect.js';
import type { TcpConnectionPath } from '../src/connect-tcp.js';

export interface PeerOutcome {
  path?: (ConnectionPath | TcpConnectionPath) & { connectMs: number };
  sha?: string;
  transfer?: { bytes: number; ms: number };
  idleMs?: number;
  error?: { code: string; stage: string; message: string };
}

export type OutcomePair = [PeerOutcome, PeerOutcome];

export const MATRIX_HEADER =
  'pair                                   | transport | path              | connect ms | 1 MiB goodput';

/** Waits for both peers to exit and parses what each printed; a peer that printed neither PATH nor ERROR gets its stderr as the error. */
export async function readOutcomes(children: LabProcess[]): Promise<OutcomePair> {
  await Promise.all(children.map((child) => child.exited));
  return children.map((child) => {
    const outcome: PeerOutcome = {};
    for (const line of child.stdout.split('\n')) {
      if (line.startsWith('PATH ')) outcome.path = JSON.parse(line.slice(5));
      if (line.startsWith('SHA ')) outcome.sha = line.slice(4);
      if (line.startsWith('TRANSFER ')) outcome.transfer = JSON.parse(line.slice(9));
      if (line.startsWith('IDLE ')) outcome.idleMs = Number(line.slice(5));
      if (line.startsWith('ERROR ')) outcome.error = JSON.parse(line.slice(6));
    }
    if (!outcome.path && !outcome.error) {
      outcome.error = { code: '?', stage: '?', message: child.stderr.slice(-2000) };
    }
    return outcome;
  }) as OutcomePair;
}

/** One row of the printed matrix: the first peer's path and time, the receiver's goodput. */
export function matrixLine(label: string, transport: string, [sender, receiver]: OutcomePair): string {
  const path = sender.path
    ? sender.path.kind === 'relayed'
      ? 'relayed'
      : `${sender.path.kind} (${sender.path.candidate})`
    : 'failed';
  const goodput = receiver.transfer
    ? `${((receiver.transfer.bytes * 8) / (receiver.transfer.ms * 1000)).toFixed(1)} Mbit/s`
    : '-';
  const connectMs = sender.path ? sender.path.connectMs.toFixed(0) : '-';
  return `${label.padEnd(38)} | ${transport.padEnd(9)} | ${path.padEnd(17)} | ${connectMs.padEnd(10)} | ${goodput}`;
}

/** Both peers finished without an error and hashed the same bytes. */
export function expectTransfer([a, b]: OutcomePair): void {
  expect(a.error, a.error?.message).toBeUndefined();
  expect(b.error, b.error?.message).toBeUndefined();
  expect(a.sha).toMatch(/^[0-9a-f]{64}$/);
  expect(b.sha).toBe(a.sha);
}
