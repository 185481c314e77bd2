import { parseArgs } from 'node:util';
import { type Address, AnttError, formatAddress, parseAddress } from '@antt/core';
import { checkNat, DEFAULT_TIMEOUT_PER_TEST_MS } from '../nat/check.js';
import { formatNatReport } from '../nat/report.js';
import { stunBinding } from '../stun/client.js';

/** Public servers used when none is given: two hosts, so mapping behaviour can be compared. */
export const DEFAULT_SERVERS = ['stun.l.google.com:19302', 'stun1.l.google.com:19302'];
const DEFAULT_STUN_TIMEOUT_MS = 10_000;

export const USAGE = `Usage: antt-nat <command> [options]

Commands:
  check [--server host:port ...]  Describe the NAT in front of this host: UDP blocked or not, public
                                  address, mapping and filtering behaviour (RFC 4787, RFC 5780), port
                                  allocation, hairpinning, and what that means for direct connections.
  stun <host:port>                Send one STUN Binding request from a fresh socket and print the
                                  public address the server saw.

Options:
  --server host:port  STUN server for 'check' (repeat for more; a server with RFC 5780 support, such
                      as coturn on two IPs, gives the full picture).
                      Default: ${DEFAULT_SERVERS.join(', ')}
  --timeout ms        'check': bound on each test (default ${DEFAULT_TIMEOUT_PER_TEST_MS}).
                      'stun': bound on the whole request (default ${DEFAULT_STUN_TIMEOUT_MS}).
  --rto ms            Initial STUN retransmission timeout (default 500, RFC 8489).
  --json              Print the result as JSON instead of text.
  -h, --help          Show this help.

Exit status: 0 when a result was printed, 1 when the operation failed (no answer, network error),
2 for bad arguments.`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

class UsageError extends Error {}

/** Runs `antt-nat` with `argv` (without node and the script). Resolves to the exit status. */
export async function runCli(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    const message =
      error instanceof UsageError || AnttError.is(error) ? error.message : cleanParseError(error);
    io.stderr(`antt-nat: ${message} (see antt-nat --help)\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  try {
    if (parsed.command === 'stun') {
      const result = await stunBinding({
        server: parsed.server!,
        timeout: parsed.timeout ?? DEFAULT_STUN_TIMEOUT_MS,
        ...(parsed.rto !== undefined ? { rtoMs: parsed.rto } : {}),
        ...(signal ? { signal } : {}),
      });
      if (parsed.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      else {
        const extras = [
          `server ${formatAddress(result.server)}`,
          `rtt ${result.rttMs.toFixed(1)} ms`,
          ...(result.otherAddress ? [`other address ${formatAddress(result.otherAddress)}`] : []),
        ];
        io.stdout(`${formatAddress(result.mapped)} (${extras.join(', ')})\n`);
      }
      return 0;
    }
    const report = await checkNat({
      servers: parsed.servers.length > 0 ? parsed.servers : DEFAULT_SERVERS,
      timeoutPerTest: parsed.timeout ?? DEFAULT_TIMEOUT_PER_TEST_MS,
      ...(parsed.rto !== undefined ? { rtoMs: parsed.rto } : {}),
      ...(signal ? { signal } : {}),
    });
    io.stdout(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatNatReport(report)}\n`);
    return 0;
  } catch (error) {
    io.stderr(`antt-nat: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

interface ParsedCommand {
  command: 'check' | 'stun';
  help: boolean;
  json: boolean;
  servers: Address[];
  server?: Address;
  timeout?: number;
  rto?: number;
}

function parse(argv: string[]): ParsedCommand {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      server: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      rto: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help) return { command: 'check', help: true, json: false, servers: [] };
  if (command === undefined) throw new UsageError("missing command: 'check' or 'stun'");
  if (command !== 'check' && command !== 'stun') {
    throw new UsageError(`unknown command '${command}': expected 'check' or 'stun'`);
  }
  const parsed: ParsedCommand = {
    command,
    help: false,
    json: values.json ?? false,
    servers: (values.server ?? []).map((s) => parseAddress(s)),
  };
  if (values.timeout !== undefined) parsed.timeout = positiveMs('--timeout', values.timeout);
  if (values.rto !== undefined) parsed.rto = positiveMs('--rto', values.rto);
  if (command === 'stun') {
    if (parsed.servers.length > 0)
      throw new UsageError("'stun' takes the server as its argument, not --server");
    if (rest.length !== 1)
      throw new UsageError("'stun' needs exactly one server address, like 192.0.2.1:3478");
    parsed.server = parseAddress(rest[0]!);
  } else if (rest.length > 0) {
    throw new UsageError(`unexpected argument '${rest[0]}': give servers with --server host:port`);
  }
  return parsed;
}

function positiveMs(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0) {
    throw new UsageError(`${flag} needs a positive number of milliseconds, got '${text}'`);
  }
  return Number(text);
}

function cleanParseError(error: unknown): string {
  // node:util parseArgs messages carry hints aimed at programmers; keep the first sentence.
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split(/\.\s|\n/)[0]!.replace(/\.$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}
