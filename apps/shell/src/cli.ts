/**
 * The command line: one option table drives parsing (node:util parseArgs, strict), validation and the
 * `--help` text, so the help cannot drift from what is accepted. Every bad argument becomes one
 * `UsageError` line; main.ts prints it and exits with status 2.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddress } from '@antt/core';
import { MAX_NAME_BYTES } from '@antt/nat';
import { parseAllowedPeers, parsePeerId } from '@antt/secure';

export const PROGRAM = 'antt-shell';
export const MODES = ['serve', 'connect'] as const;
export type Mode = (typeof MODES)[number];
export type TransportName = 'udp' | 'tcp';

/** The client waits this long for the server unless told otherwise. */
export const DEFAULT_CLIENT_CONNECT_TIMEOUT_S = 15;

export class UsageError extends Error {}

export interface OptionSpec {
  name: string;
  type: 'string' | 'boolean';
  /** Placeholder shown in --help, e.g. '<n>'. */
  value?: string;
  multiple?: boolean;
  modes: readonly Mode[];
  help: string | Record<Mode, string>;
}

export const OPTIONS: readonly OptionSpec[] = [
  {
    name: 'port',
    type: 'string',
    value: '<n>',
    modes: MODES,
    help: "local port (the other side's --peer points here; with --rendezvous default: any)",
  },
  {
    name: 'peer',
    type: 'string',
    value: '<host:port>',
    modes: MODES,
    help: "the other side's address and --port",
  },
  {
    name: 'rendezvous',
    type: 'string',
    value: '<host:port>',
    modes: MODES,
    help: 'instead of --peer: meet the other side by --name at this antt-rendezvous server',
  },
  {
    name: 'name',
    type: 'string',
    value: '<name>',
    modes: MODES,
    help: 'with --rendezvous: the name to meet under; the same on both sides, or see --peer-name',
  },
  {
    name: 'peer-name',
    type: 'string',
    value: '<name>',
    modes: MODES,
    help: "with --rendezvous: the other side's --name, when the two sides use different names",
  },
  {
    name: 'transport',
    type: 'string',
    value: 'udp|tcp',
    modes: MODES,
    help: 'default udp; both sides must use the same',
  },
  {
    name: 'passphrase',
    type: 'string',
    value: '<text>',
    modes: MODES,
    help: 'shared secret both sides give (visible in ps: prefer --passphrase-file)',
  },
  {
    name: 'passphrase-file',
    type: 'string',
    value: '<file>',
    modes: MODES,
    help: 'read the passphrase from the first line of a file',
  },
  {
    name: 'allow',
    type: 'string',
    value: '<peer-id>',
    multiple: true,
    modes: ['serve'],
    help: 'a client peer id allowed in (repeatable; the client prints its id)',
  },
  {
    name: 'allow-file',
    type: 'string',
    value: '<file>',
    modes: ['serve'],
    help: 'allowed peer ids, one per line, # comments',
  },
  {
    name: 'peer-id',
    type: 'string',
    value: '<id>',
    modes: ['connect'],
    help: "the server's peer id (it prints it on start): refuse any other server",
  },
  {
    name: 'identity',
    type: 'string',
    value: '<file>',
    modes: MODES,
    help: {
      serve: 'identity key file, created on first use (default ~/.config/antt/shell-serve.json)',
      connect: 'identity key file, created on first use (default ~/.config/antt/shell-connect.json)',
    },
  },
  {
    name: 'root',
    type: 'string',
    value: '<dir>',
    modes: ['serve'],
    help: 'serve files only under this directory (default: the current directory)',
  },
  { name: 'no-exec', type: 'boolean', modes: ['serve'], help: 'refuse to run commands; serve files only' },
  {
    name: 'connect-timeout',
    type: 'string',
    value: '<s>',
    modes: MODES,
    help: {
      serve: 'give up when no client came for this many seconds (default: wait forever)',
      connect: `seconds to wait for the server (default ${DEFAULT_CLIENT_CONNECT_TIMEOUT_S})`,
    },
  },
  { name: 'help', type: 'boolean', modes: MODES, help: 'show this help' },
];

const SYNOPSIS: Record<Mode, string> = {
  serve: `${PROGRAM} serve (--port <n> --peer <host:port> | --rendezvous <host:port> --name <name>) (--passphrase <text> | --allow <peer-id>... | --allow-file <file>) [options]`,
  connect: `${PROGRAM} connect (--port <n> --peer <host:port> | --rendezvous <host:port> --name <name>) (--passphrase <text> | --peer-id <id>) [options]`,
};

const ABOUT: Record<Mode, string> = {
  serve:
    'Serve a shell and the files under --root to one authenticated peer at a time; wait for the next one when it leaves.',
  connect: 'Open a shell on a server started with `serve` (commands, cd/ls, get/put with SHA-256 checks).',
};

export function usage(mode?: Mode): string {
  if (mode) {
    return [`Usage: ${SYNOPSIS[mode]}`, '', ABOUT[mode], '', 'Options:', ...optionLines(mode)].join('\n');
  }
  return [
    `Usage: ${SYNOPSIS.serve}`,
    `       ${SYNOPSIS.connect}`,
    '',
    'A remote shell with file transfer over an Antt connection (UDP or TCP). Run `serve` on one machine and',
    '`connect` on the other, each with --peer pointing at the other side (both connect at once, so it works',
    'through NATs that keep ports), or both with the same --rendezvous server and --name: the server tells',
    'each where the other is, they punch a direct path through their NATs (or go through its relay).',
    '',
    'serve options:',
    ...optionLines('serve'),
    '',
    'connect options:',
    ...optionLines('connect'),
    '',
    'Example, two terminals on one machine:',
    `  ${PROGRAM} serve   --port 4456 --peer 127.0.0.1:3345 --passphrase 'correct horse'`,
    `  ${PROGRAM} connect --port 3345 --peer 127.0.0.1:4456 --passphrase 'correct horse'`,
    '',
    'Example, two machines behind NATs meeting at antt-rendezvous on 203.0.113.2:',
    `  ${PROGRAM} serve   --rendezvous 203.0.113.2:3478 --name office --passphrase 'correct horse'`,
    `  ${PROGRAM} connect --rendezvous 203.0.113.2:3478 --name office --passphrase 'correct horse'`,
  ].join('\n');
}

function optionLines(mode: Mode): string[] {
  return OPTIONS.filter((option) => option.modes.includes(mode)).map((option) => {
    const left = `  --${option.name}${option.value ? ` ${option.value}` : ''}`;
    const help = typeof option.help === 'string' ? option.help : option.help[mode];
    return `${left.padEnd(30)}${help}`;
  });
}

/** Where the two sides meet by name instead of by address (`--rendezvous`). */
export interface RendezvousTarget {
  server: { host: string; port: number };
  /** As typed, for messages. */
  serverText: string;
  name: string;
  /** The other side's name; undefined: `name` is a meeting name both sides give. */
  peerName: string | undefined;
}

interface CommonConfig {
  /** 0: any free port (only with a rendezvous). */
  port: number;
  /** The other side's address; undefined with a rendezvous. */
  peer: { host: string; port: number } | undefined;
  rendezvous: RendezvousTarget | undefined;
  transport: TransportName;
  passphrase: string | undefined;
  identityPath: string;
  /** undefined: the mode's default. */
  connectTimeoutMs: number | undefined;
}

export interface ServeConfig extends CommonConfig {
  mode: 'serve';
  allowedPeers: string[];
  root: string;
  exec: boolean;
}

export interface ConnectConfig extends CommonConfig {
  mode: 'connect';
  serverPeerId: string | undefined;
}

export type Command = { mode: 'help'; text: string } | ServeConfig | ConnectConfig;

export function parseCommandLine(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError(`missing mode: 'serve' or 'connect' (see ${PROGRAM} --help)`);
  if (first === '--help' || first === '-h' || first === 'help') return { mode: 'help', text: usage() };
  if (!(MODES as readonly string[]).includes(first)) {
    throw new UsageError(
      first.startsWith('-')
        ? `the mode comes first: ${PROGRAM} serve|connect ${first} … (see ${PROGRAM} --help)`
        : `unknown mode '${first}': expected 'serve' or 'connect' (see ${PROGRAM} --help)`,
    );
  }
  const mode = first as Mode;
  const values = parseOptions(mode, rest);
  if (values.help) return { mode: 'help', text: usage(mode) };

  const rendezvous = rendezvousTarget(values, mode);
  const transport = transportName(values.transport);
  const port = stringValue(values.port);
  const common: CommonConfig = {
    port: rendezvous && port === undefined ? 0 : portNumber(required(values, 'port', mode)),
    peer: rendezvous ? undefined : peerAddress(required(values, 'peer', mode)),
    rendezvous,
    transport,
    passphrase: passphrase(values),
    identityPath: resolve(
      stringValue(values.identity) ?? join(homedir(), '.config', 'antt', `shell-${mode}.json`),
    ),
    connectTimeoutMs: seconds(values['connect-timeout']),
  };
  if (mode === 'connect') {
    const id = stringValue(values['peer-id']);
    const serverPeerId = id === undefined ? undefined : peerId(id, '--peer-id');
    if (common.passphrase === undefined && serverPeerId === undefined) {
      throw new UsageError(
        `connect needs --passphrase (or --passphrase-file) or --peer-id <the server's id> (see ${PROGRAM} connect --help)`,
      );
    }
    return { mode, ...common, serverPeerId };
  }
  const allowedPeers = [...((values.allow as string[] | undefined) ?? []).map((id) => peerId(id, '--allow'))];
  const allowFile = stringValue(values['allow-file']);
  if (allowFile !== undefined) allowedPeers.push(...readAllowFile(allowFile));
  if (common.passphrase === undefined && allowedPeers.length === 0) {
    throw new UsageError(
      allowFile === undefined
        ? `serve refuses to run without authentication: give --passphrase, --allow <peer-id> or --allow-file <file> (see ${PROGRAM} serve --help)`
        : `--allow-file ${allowFile} lists no peer ids, and no --passphrase was given: nobody could connect`,
    );
  }
  return {
    mode,
    ...common,
    allowedPeers,
    root: rootDirectory(stringValue(values.root) ?? process.cwd()),
    exec: values['no-exec'] !== true,
  };
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parseOptions(mode: Mode, args: string[]): Values {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const spec of OPTIONS) {
    if (!spec.modes.includes(mode)) continue;
    options[spec.name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}) };
  }
  options.help!.short = 'h';
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument '${positionals[0]}' (see ${PROGRAM} ${mode} --help)`);
    }
    for (const spec of OPTIONS) {
      const value = values[spec.name];
      if (!spec.multiple && Array.isArray(value)) throw new UsageError(`--${spec.name} given twice`);
    }
    return values as Values;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(describeParseError(error, mode));
  }
}

/** Node's parseArgs messages are long and mention `--` tricks; people need the option and the fix. */
function describeParseError(error: unknown, mode: Mode): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const option = /'(-[^' ]*)/.exec(message)?.[1] ?? '';
  const help = `(see ${PROGRAM} ${mode} --help)`;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const other = MODES.find(
      (m) => m !== mode && OPTIONS.some((o) => `--${o.name}` === option && o.modes.includes(m)),
    );
    return other
      ? `option ${option} belongs to '${other}', not '${mode}' ${help}`
      : `unknown option '${option}' ${help}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(message)) return `option ${option} takes no value ${help}`;
    return `option ${option.split(' ')[0]} needs a value ${help}`;
  }
  return `${message.split('\n')[0]} ${help}`;
}

function stringValue(value: Values[string]): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function required(values: Values, name: string, mode: Mode): string {
  const value = stringValue(values[name]);
  if (value === undefined) {
    const hint =
      name === 'port'
        ? 'the local port'
        : "the other side's host:port, or --rendezvous <host:port> --name <name> to meet by name";
    throw new UsageError(`${mode} needs --${name} (${hint}; see ${PROGRAM} ${mode} --help)`);
  }
  return value;
}

/** `--rendezvous`, `--name` and `--peer-name`, checked together; undefined when meeting by address. */
function rendezvousTarget(values: Values, mode: Mode): RendezvousTarget | undefined {
  const serverText = stringValue(values.rendezvous);
  const name = stringValue(values.name);
  const peerName = stringValue(values['peer-name']);
  if (serverText === undefined) {
    if (name !== undefined || peerName !== undefined) {
      throw new UsageError(
        `--${name !== undefined ? 'name' : 'peer-name'} goes with --rendezvous <host:port> (the server where both sides meet)`,
      );
    }
    return undefined;
  }
  if (stringValue(values.peer) !== undefined) {
    throw new UsageError(
      "give --peer <host:port> (the other side's address) or --rendezvous <host:port> (a server where both meet by --name), not both",
    );
  }
  if (name === undefined) {
    throw new UsageError(
      `--rendezvous needs --name <name>: the name both sides meet under (see ${PROGRAM} ${mode} --help)`,
    );
  }
  let server: { host: string; port: number };
  try {
    const { host, port } = parseAddress(serverText);
    server = { host, port };
  } catch {
    throw new UsageError(`--rendezvous must be host:port, for example 203.0.113.2:3478, got '${serverText}'`);
  }
  return {
    server,
    serverText,
    name: meetingName(name, '--name'),
    peerName: peerName === undefined ? undefined : meetingName(peerName, '--peer-name'),
  };
}

/** A name the rendezvous server stores: printable UTF-8, 1 to MAX_NAME_BYTES bytes. */
function meetingName(text: string, option: string): string {
  const name = text.trim();
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES || /\p{Cc}/u.test(name)) {
    throw new UsageError(
      `${option} must be 1 to ${MAX_NAME_BYTES} bytes of printable text, got ${JSON.stringify(text)}`,
    );
  }
  return name;
}

function portNumber(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`--port must be a port number from 1 to 65535, got '${text}'`);
  }
  return Number(text);
}

function peerAddress(text: string): { host: string; port: number } {
  try {
    const { host, port } = parseAddress(text);
    return { host, port };
  } catch {
    throw new UsageError(
      `--peer must be host:port, for example 192.0.2.7:4456 or [2001:db8::7]:4456, got '${text}'`,
    );
  }
}

function transportName(value: Values[string]): TransportName {
  const text = stringValue(value) ?? 'udp';
  if (text !== 'udp' && text !== 'tcp') throw new UsageError(`--transport must be udp or tcp, got '${text}'`);
  return text;
}

function seconds(value: Values[string]): number | undefined {
  const text = stringValue(value);
  if (text === undefined) return undefined;
  const number = Number(text);
  if (text.trim() === '' || !Number.isFinite(number) || number <= 0) {
    throw new UsageError(`--connect-timeout must be a positive number of seconds, got '${text}'`);
  }
  return number * 1000;
}

function passphrase(values: Values): string | undefined {
  const inline = stringValue(values.passphrase);
  const file = stringValue(values['passphrase-file']);
  if (inline !== undefined && file !== undefined) {
    throw new UsageError('give --passphrase or --passphrase-file, not both');
  }
  let text = inline;
  if (file !== undefined) {
    text = readText(file, '--passphrase-file').split(/\r?\n/)[0];
  }
  if (text !== undefined && text.length === 0) {
    throw new UsageError(
      file ? `--passphrase-file ${file} starts with an empty line` : '--passphrase is empty',
    );
  }
  return text;
}

function peerId(text: string, option: string): string {
  try {
    return parsePeerId(text);
  } catch (error) {
    throw new UsageError(`${option} '${text}' is not a peer id: ${(error as Error).message}`);
  }
}

function readAllowFile(path: string): string[] {
  const text = readText(path, '--allow-file');
  try {
    return [...parseAllowedPeers(text, path)];
  } catch (error) {
    throw new UsageError(`--allow-file: ${(error as Error).message}`);
  }
}

function readText(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${option} ${path}: ${describeFsError(error)}`);
  }
}

function rootDirectory(path: string): string {
  const full = resolve(path);
  try {
    if (!statSync(full).isDirectory()) throw new UsageError(`--root ${path} is not a directory`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot use --root ${path}: ${describeFsError(error)}`);
  }
  return full;
}

export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EEXIST':
      return 'already exists';
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}
