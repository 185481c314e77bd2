/**
 * The command line: one table of options that both `parseArgs` and `--help` are generated from, so the
 * help can never list a flag the parser refuses or miss one it accepts.
 */
import { statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Address, AnttError, parseAddress } from '@antt/core';
import { MAX_NAME_BYTES } from '@antt/nat';
import { parsePeerId } from '@antt/secure';

export const PROGRAM = 'antt-chat';
export const DEFAULT_TRANSPORT = 'udp';
export const DEFAULT_CONNECT_TIMEOUT_S = 300;
export const DEFAULT_IDLE_TIMEOUT_S = 12;
export const DEFAULT_IDENTITY_PATH = join(homedir(), '.config', 'antt', 'identity.json');
export const MAX_NAME_CHARS = 32;
const HELP_COLUMNS = 100;

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in the help, e.g. `<host:port>`. */
  value?: string;
  description: string;
  /** What happens when the flag is left out, shown as "(default: ...)". */
  defaultText?: string;
}

/** Every flag `antt-chat` accepts, in the order `--help` lists them. */
export const OPTIONS = {
  port: {
    type: 'string',
    value: '<n>',
    description: 'port this side uses (required with --peer; with --rendezvous any free port by default)',
  },
  peer: {
    type: 'string',
    value: '<host:port>',
    description: "the other side's address and port (or meet through --rendezvous)",
  },
  rendezvous: {
    type: 'string',
    value: '<host:port>',
    description:
      'meet the other side through this rendezvous server (antt-rendezvous) by --name instead of --peer',
  },
  'peer-name': {
    type: 'string',
    value: '<name>',
    description:
      "with --rendezvous: the other side's --name; leave it out when both sides give the same --name",
  },
  transport: {
    type: 'string',
    value: 'udp|tcp',
    description: 'transport; both sides must use the same',
    defaultText: DEFAULT_TRANSPORT,
  },
  passphrase: {
    type: 'string',
    value: '<text>',
    description: 'a secret both sides know: it authenticates the peer and keys the encryption',
  },
  'peer-id': {
    type: 'string',
    multiple: true,
    value: '<id>',
    description: 'accept only this peer id (the other side prints its own at start); repeatable',
  },
  identity: {
    type: 'string',
    value: '<file>',
    description: 'file with your identity (your peer id), created if missing',
    defaultText: '~/.config/antt/identity.json',
  },
  name: {
    type: 'string',
    value: '<name>',
    description:
      'your name as the peer sees it; with --rendezvous (where it is required) also the name you meet under',
    defaultText: 'your user name',
  },
  'connect-timeout': {
    type: 'string',
    value: '<s>',
    description: 'seconds to wait for the peer before giving up',
    defaultText: String(DEFAULT_CONNECT_TIMEOUT_S),
  },
  'idle-timeout': {
    type: 'string',
    value: '<s>',
    description: 'seconds of silence before the peer counts as vanished',
    defaultText: String(DEFAULT_IDLE_TIMEOUT_S),
  },
  downloads: {
    type: 'string',
    value: '<dir>',
    description: 'where received files are saved',
    defaultText: 'current directory',
  },
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
} as const satisfies Record<string, OptionSpec>;

/** Where the two sides meet by name instead of by address (`--rendezvous`). */
export interface RendezvousTarget {
  server: Address;
  /** As the user typed it (for messages). */
  serverText: string;
  /** The name this side registers under (`--name`). */
  name: string;
  /** The other side's name; undefined: `name` is a meeting name both sides give. */
  peerName: string | undefined;
}

export interface ChatOptions {
  /** 0: any free port (only with a rendezvous). */
  localPort: number;
  /** The other side's address (`--peer`); undefined with a rendezvous. */
  peer: Address | undefined;
  /** Whom the chat waits for, in words for messages: the address as typed, or the name and server. */
  peerText: string;
  rendezvous: RendezvousTarget | undefined;
  transport: 'udp' | 'tcp';
  passphrase: string | undefined;
  peerIds: string[];
  identityPath: string;
  name: string;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  downloads: string;
}

export type ParseResult = { help: true } | { help: false; options: ChatOptions };

/** A bad command line: main prints its message as one line and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function helpText(): string {
  const rows = Object.entries(OPTIONS).map(([name, spec]: [string, OptionSpec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    // Non-breaking spaces keep "(default: ...)" on one line when the help wraps.
    const extra =
      spec.defaultText !== undefined ? ` (default: ${spec.defaultText})`.replace(/(?<=.) /g, '\u00a0') : '';
    return [flag, `${spec.description}${extra}`] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = rows.flatMap(([flag, text]) =>
    wrap(text, HELP_COLUMNS - 2 - width).map(
      (part, i) => `  ${(i === 0 ? flag : '').padEnd(width)}${part.replace(/\u00a0/g, ' ')}`,
    ),
  );
  return [
    `Usage: ${PROGRAM} --port <n> --peer <host:port> (--passphrase <text> | --peer-id <id>) [options]`,
    `       ${PROGRAM} --rendezvous <host:port> --name <name> [--peer-name <name>]`,
    `       ${' '.repeat(PROGRAM.length)} (--passphrase <text> | --peer-id <id>) [options]`,
    '',
    'Chat and send files with one other person over Antt. Start it on both sides, each with its own',
    "port and the other's address, or each with the same rendezvous server and a name (its own with",
    "the other's as --peer-name, or one meeting name on both sides); whoever starts first waits.",
    "Either a shared --passphrase or the other side's --peer-id is required, so only that person can",
    'connect.',
    '',
    'Options:',
    ...lines,
    '',
    'While chatting: /help, /status, /send FILE, /quit (or Ctrl-D). Lines typed while the peer is away',
    'are queued and sent when it is back.',
    '',
    'Example (two terminals on one machine):',
    `  ${PROGRAM} --port 3345 --peer 127.0.0.1:4456 --passphrase 'correct horse'`,
    `  ${PROGRAM} --port 4456 --peer 127.0.0.1:3345 --passphrase 'correct horse'`,
    '',
    'Example through a rendezvous server (antt-rendezvous on 203.0.113.2), two machines behind NATs:',
    `  ${PROGRAM} --rendezvous 203.0.113.2:3478 --name alice --peer-name bob --passphrase 'correct horse'`,
    `  ${PROGRAM} --rendezvous 203.0.113.2:3478 --name bob --peer-name alice --passphrase 'correct horse'`,
    '',
    'Exit status: 0 after /quit, 1 when the peer never came or the port is taken, 2 for bad arguments.',
  ].join('\n');
}

/** Parses argv (without node and the script). Throws UsageError with a one-line message. */
export function parseChatArgs(argv: string[]): ParseResult {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(cleanParseArgsError(error));
  }
  if (values.help) return { help: true };

  const rendezvousText = values.rendezvous as string | undefined;
  const peerName = values['peer-name'] as string | undefined;
  if (rendezvousText !== undefined && values.peer !== undefined) {
    throw new UsageError(
      "give --peer <host:port> (the other side's address) or --rendezvous <host:port> (a server where both meet by name), not both",
    );
  }
  if (rendezvousText === undefined && peerName !== undefined) {
    throw new UsageError('--peer-name needs --rendezvous <host:port> (the server where both sides meet)');
  }
  if (rendezvousText === undefined && values.peer === undefined && values.port === undefined) {
    throw new UsageError(
      'say how to reach the other side: --port <n> --peer <host:port> (its address), or --rendezvous <host:port> --name <name> (meet by name)',
    );
  }
  const localPort =
    rendezvousText !== undefined && values.port === undefined ? 0 : port(required(values.port, 'port'));
  const peerText = rendezvousText === undefined ? required(values.peer, 'peer') : undefined;
  const peer = peerText === undefined ? undefined : address(peerText, 'peer');
  const transport = (values.transport as string | undefined) ?? DEFAULT_TRANSPORT;
  if (transport !== 'udp' && transport !== 'tcp') {
    throw new UsageError(`--transport must be udp or tcp, got ${JSON.stringify(transport)}`);
  }
  const passphrase = values.passphrase as string | undefined;
  if (passphrase !== undefined && passphrase.length === 0) {
    throw new UsageError('--passphrase must not be empty');
  }
  const peerIds = ((values['peer-id'] as string[] | undefined) ?? []).map(peerId);
  if (passphrase === undefined && peerIds.length === 0) {
    throw new UsageError(
      "give --passphrase <text> (a secret both sides know) or --peer-id <id> (the other side's id), so only your peer can connect",
    );
  }
  if (rendezvousText !== undefined && values.name === undefined) {
    throw new UsageError(
      '--rendezvous needs --name <name>: the name you meet under (the other side gives it as --peer-name, or the same --name)',
    );
  }
  const name = chatName((values.name as string | undefined) ?? defaultName(), '--name')!;
  const rendezvous =
    rendezvousText === undefined
      ? undefined
      : {
          server: address(rendezvousText, 'rendezvous'),
          serverText: rendezvousText,
          name,
          peerName: chatName(peerName, '--peer-name'),
        };
  const identityPath = expandHome((values.identity as string | undefined) ?? DEFAULT_IDENTITY_PATH);
  const downloads = resolve(expandHome((values.downloads as string | undefined) ?? '.'));
  checkDirectory(downloads);
  return {
    help: false,
    options: {
      localPort,
      peer,
      peerText:
        rendezvous === undefined
          ? peerText!
          : `"${rendezvous.peerName ?? name}" at rendezvous ${rendezvousText}`,
      rendezvous,
      transport,
      passphrase,
      peerIds,
      identityPath,
      name,
      connectTimeoutMs: seconds(values['connect-timeout'], 'connect-timeout', DEFAULT_CONNECT_TIMEOUT_S),
      idleTimeoutMs: seconds(values['idle-timeout'], 'idle-timeout', DEFAULT_IDLE_TIMEOUT_S),
      downloads,
    },
  };
}

function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    if (current !== '' && current.length + 1 + word.length > columns) {
      lines.push(current);
      current = word;
    } else current = current === '' ? word : `${current} ${word}`;
  }
  return [...lines, current];
}

function required(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new UsageError(`--${name} is required`);
  return value;
}

function port(text: string): number {
  const value = /^\d{1,5}$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= 65535)) {
    throw new UsageError(`--port must be a number from 1 to 65535, got ${JSON.stringify(text)}`);
  }
  return value;
}

function address(text: string, option: 'peer' | 'rendezvous'): Address {
  try {
    return parseAddress(text);
  } catch {
    const example = option === 'peer' ? '192.0.2.7:4456' : '203.0.113.2:3478';
    throw new UsageError(
      `--${option} must be host:port with a port from 1 to 65535, like ${example}, got ${JSON.stringify(text)}`,
    );
  }
}

/**
 * A name as the peer sees it and, with a rendezvous, as the server stores it (printable, at most
 * MAX_NAME_BYTES of UTF-8 there). Control characters are dropped and the ends trimmed.
 */
function chatName(text: string | undefined, option: '--name' | '--peer-name'): string | undefined {
  if (text === undefined) return undefined;
  const name = text.replace(/\p{Cc}/gu, '').trim();
  if (name.length === 0 || name.length > MAX_NAME_CHARS || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new UsageError(`${option} must be 1 to ${MAX_NAME_CHARS} characters, got ${JSON.stringify(text)}`);
  }
  return name;
}

function peerId(text: string): string {
  try {
    return parsePeerId(text);
  } catch (error) {
    throw new UsageError(`--peer-id: ${AnttError.is(error) ? error.message : String(error)}`);
  }
}

function seconds(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  const text = String(value);
  const parsed = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(parsed > 0) || parsed > 86_400) {
    throw new UsageError(
      `--${name} must be a number of seconds from 0.1 to 86400, got ${JSON.stringify(text)}`,
    );
  }
  return Math.max(100, Math.round(parsed * 1000));
}

function checkDirectory(path: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    throw new UsageError(`--downloads: no such directory ${JSON.stringify(path)}`);
  }
  if (!isDirectory) throw new UsageError(`--downloads: ${JSON.stringify(path)} is not a directory`);
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

function defaultName(): string {
  try {
    return userInfo().username || 'me';
  } catch {
    return 'me';
  }
}

/** node:util parseArgs messages carry hints aimed at programmers; keep the first sentence. */
function cleanParseArgsError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split(/\.\s|\n/)[0]!.replace(/\.$/, '');
  const unknown = /^Unknown option '(.+)'$/.exec(first);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missing = /^Option '(.+?)(?: <value>)?' argument missing$/.exec(first);
  if (missing) return `${missing[1]!.replace(/^-\w, /, '')} needs a value`;
  const ambiguous = /^Option '(.+?)' argument is ambiguous$/.exec(first);
  if (ambiguous) {
    const flag = ambiguous[1]!.replace(/^-\w, /, '');
    return `${flag} needs a value (for a value that starts with "-", write ${flag}=-VALUE)`;
  }
  const noValue = /^Option '(.+?)' does not take an argument$/.exec(first);
  if (noValue) return `${noValue[1]!.replace(/^-\w, /, '')} does not take a value`;
  const positional = /^Unexpected argument '(.+)'$/.exec(first);
  if (positional)
    return `unexpected argument ${JSON.stringify(positional[1])}: every value follows its --flag`;
  return first.charAt(0).toLowerCase() + first.slice(1);
}
