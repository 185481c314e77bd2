import { parseArgs } from 'node:util';
import { AnttError, formatAddress } from '@antt/core';
import {
  DEFAULT_MAX_REGISTRATIONS,
  DEFAULT_MAX_RELAYS,
  DEFAULT_REGISTRATION_TTL_SEC,
  DEFAULT_RELAY_IDLE_TIMEOUT_SEC,
  DEFAULT_RELAY_RATE_BYTES_PER_SEC,
  DEFAULT_RENDEZVOUS_PORT,
  RENDEZVOUS_VERSION,
  RendezvousServer,
} from '@antt/nat';

/** How often the server prints its counters while running (only when they changed). */
const STATS_INTERVAL_MS = 60_000;

export const USAGE = `Usage: antt-rendezvous [options]

Runs an Antt rendezvous server: peers register under a name, learn each other's candidate addresses
(LAN and public) and a common start time, then punch a direct path. When punching fails, the server
relays their (end-to-end encrypted) Antt datagrams on the same port. The same UDP port answers STUN
Binding requests. The same port number on TCP serves the protocol length-framed, for TCP punching and
hosts whose UDP is blocked, and relays by piping two peers' connections. Rendezvous protocol version
${RENDEZVOUS_VERSION} with the relay and mapping extensions.

Options:
  --port n                  UDP and TCP port to listen on (default ${DEFAULT_RENDEZVOUS_PORT}; 0 picks a free one).
  --host address            Address to bind (default 0.0.0.0; an IPv6 address binds IPv6).
  --alternate-port n        Second UDP port, answering mapping queries and STUN: comparing what both
                            ports see tells peers whether their NAT is endpoint-dependent (default
                            the port + 1, skipped when taken; 0: none).
  --registration-ttl s      Seconds a registration lives without a refresh (default ${DEFAULT_REGISTRATION_TTL_SEC}).
  --max-registrations n     Registrations held at once; more are refused (default ${DEFAULT_MAX_REGISTRATIONS}).
  --max-relays n            Relays held at once, one per relayed pair; more are refused
                            (default ${DEFAULT_MAX_RELAYS}; 0 turns relaying off).
  --relay-rate bytes/s      Bytes per second each relay forwards, both directions together; the
                            excess is dropped (default ${DEFAULT_RELAY_RATE_BYTES_PER_SEC}).
  --relay-idle s            Seconds without traffic after which a relay is dropped (default ${DEFAULT_RELAY_IDLE_TIMEOUT_SEC}).
  -h, --help                Show this help.

Stops on SIGINT or SIGTERM. Exit status: 0 after a clean stop, 1 when the port cannot be bound,
2 for bad arguments.`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface ServerSettings {
  host: string;
  port: number;
  registrationTtlSec: number;
  maxRegistrations: number;
  maxRelays: number;
  relayRateBytesPerSec: number;
  relayIdleTimeoutSec: number;
  /** Absent: the port + 1 when free; false: none. */
  alternatePort?: number | false;
}

class UsageError extends Error {}

/** Parses argv; returns 'help' or the settings. Throws UsageError with one line on bad arguments. */
export function parseCli(argv: string[]): ServerSettings | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'alternate-port': { type: 'string' },
        'registration-ttl': { type: 'string' },
        'max-registrations': { type: 'string' },
        'max-relays': { type: 'string' },
        'relay-rate': { type: 'string' },
        'relay-idle': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  if (values.help) return 'help';
  const alternate =
    values['alternate-port'] === undefined
      ? undefined
      : integer(values['alternate-port'], '--alternate-port', 0, 0, 65_535);
  return {
    ...(alternate === undefined ? {} : { alternatePort: alternate === 0 ? false : alternate }),
    host: typeof values.host === 'string' ? values.host : '0.0.0.0',
    port: integer(values.port, '--port', DEFAULT_RENDEZVOUS_PORT, 0, 65_535),
    registrationTtlSec: integer(
      values['registration-ttl'],
      '--registration-ttl',
      DEFAULT_REGISTRATION_TTL_SEC,
      1,
      65_535,
    ),
    maxRegistrations: integer(
      values['max-registrations'],
      '--max-registrations',
      DEFAULT_MAX_REGISTRATIONS,
      1,
      10_000_000,
    ),
    maxRelays: integer(values['max-relays'], '--max-relays', DEFAULT_MAX_RELAYS, 0, 1_000_000),
    relayRateBytesPerSec: integer(
      values['relay-rate'],
      '--relay-rate',
      DEFAULT_RELAY_RATE_BYTES_PER_SEC,
      1_000,
      4_000_000_000,
    ),
    relayIdleTimeoutSec: integer(
      values['relay-idle'],
      '--relay-idle',
      DEFAULT_RELAY_IDLE_TIMEOUT_SEC,
      1,
      65_535,
    ),
  };
}

function integer(text: unknown, option: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${option} must be an integer from ${min} to ${max}, got "${String(text)}"`);
  }
  return value;
}

/**
 * Runs `antt-rendezvous`: resolves to the exit status once `signal` fires (or at once for --help and
 * errors). `onListening` sees the server (tests read its port).
 */
export async function runCli(
  argv: string[],
  io: CliIo,
  signal: AbortSignal,
  onListening?: (server: RendezvousServer) => void,
): Promise<number> {
  let settings: ServerSettings | 'help';
  try {
    settings = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`antt-rendezvous: ${error.message} (see --help)\n`);
    return 2;
  }
  if (settings === 'help') {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  let server: RendezvousServer;
  try {
    server = await RendezvousServer.listen(settings);
  } catch (error) {
    io.stderr(`antt-rendezvous: ${AnttError.is(error) ? error.message : String(error)}\n`);
    return 1;
  }
  io.stdout(
    `antt-rendezvous listening on udp and tcp ${formatAddress(server.address)} (rendezvous v${RENDEZVOUS_VERSION} and STUN; ` +
      (server.alternateAddress ? `mapping queries on udp port ${server.alternateAddress.port}; ` : '') +
      `registrations live ${settings.registrationTtlSec} s, at most ${settings.maxRegistrations}; ` +
      (settings.maxRelays > 0
        ? `at most ${settings.maxRelays} relays of ${settings.relayRateBytesPerSec} bytes/s each)\n`
        : 'relaying off)\n'),
  );
  onListening?.(server);
  let last = '';
  const timer = setInterval(() => {
    const text = formatStats(server);
    if (text !== last) io.stdout(`${text}\n`);
    last = text;
  }, STATS_INTERVAL_MS);
  timer.unref();
  await new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(timer);
  await server.close();
  io.stdout(`stopped: ${formatStats(server)}\n`);
  return 0;
}

function formatStats(server: RendezvousServer): string {
  const s = server.stats();
  return (
    `registrations ${s.registrations}, peers paired ${s.peersPaired}, STUN answered ${s.stunAnswered}, ` +
    `received ${s.received}, sent ${s.sent}, dropped: rate ${s.droppedRateLimited}, amplification ${s.droppedAmplification}, ` +
    `malformed ${s.droppedMalformed}, bad cookie ${s.droppedBadCookie}; ` +
    `relays ${s.relays} (allocated ${s.relaysAllocated}, refused ${s.relaysRefused}, expired ${s.relaysExpired}), ` +
    `relayed ${s.relayedDatagrams} datagrams ${s.relayedBytes} bytes, dropped: relay rate ${s.relayDroppedRate}, ` +
    `unknown source ${s.relayDroppedUnknownSource}` +
    formatTcpStats(server)
  );
}

function formatTcpStats(server: RendezvousServer): string {
  const t = server.tcpStats();
  if (!t) return '';
  return (
    `; tcp: connections ${t.tcp.connections} (refused ${t.tcp.connectionsRefused}, bad input ${t.tcp.closedBadInput}, ` +
    `idle ${t.tcp.closedIdle}), registrations ${t.registrations}, peers paired ${t.peersPaired}, ` +
    `relays ${t.tcp.relays} (piped ${t.tcp.relaysPiped}, unpaired ${t.tcp.relaysUnpaired}, expired ${t.tcp.relaysExpired}), ` +
    `relayed ${t.tcp.relayedBytes} bytes`
  );
}
