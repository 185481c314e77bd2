/** The demo's command line; `--help` is generated from the same table parseArgs reads. */
import { parseArgs } from 'node:util';

export const PROGRAM = 'antt-demo';
export const DEFAULT_SIZE_MB = 256;
const MAX_SIZE_MB = 16 * 1024;

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  value?: string;
  description: string;
  defaultText?: string;
}

export const OPTIONS = {
  size: {
    type: 'string',
    value: '<MB>',
    description: 'size of the generated file in megabytes (10^6 bytes)',
    defaultText: String(DEFAULT_SIZE_MB),
  },
  transport: {
    type: 'string',
    multiple: true,
    value: 'udp|tcp',
    description: 'run only this transport; repeatable',
    defaultText: 'udp, then tcp',
  },
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
} as const satisfies Record<string, OptionSpec>;

export interface DemoOptions {
  sizeBytes: number;
  transports: ('udp' | 'tcp')[];
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function helpText(): string {
  const rows = Object.entries(OPTIONS).map(([name, spec]: [string, OptionSpec]) => [
    `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`,
    `${spec.description}${spec.defaultText !== undefined ? ` (default: ${spec.defaultText})` : ''}`,
  ]);
  const width = Math.max(...rows.map(([flag]) => flag!.length)) + 2;
  return [
    `Usage: ${PROGRAM} [--size <MB>] [--transport udp|tcp]`,
    '',
    'Starts a rendezvous server on loopback and two Antt peers on this machine, each in its own process,',
    'that meet through it by name and connect over encrypted UDP and then encrypted TCP (shared',
    'passphrase), sends a generated file of random bytes with a progress bar, checks its SHA-256 on the',
    'receiving side, and prints the path, time to connect, goodput, round-trip time and retransmissions',
    'for each transport. From the repository root: pnpm demo [options].',
    '',
    'Options:',
    ...rows.map(([flag, text]) => `  ${flag!.padEnd(width)}${text}`),
    '',
    'Exit status: 0 when every file arrived intact, 1 when a transfer failed, 2 for bad arguments.',
  ].join('\n');
}

export function parseDemoArgs(argv: string[]): { help: true } | { help: false; options: DemoOptions } {
  let values: { size?: string; transport?: string[]; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(cleanParseArgsError(error));
  }
  if (values.help) return { help: true };
  const sizeText = values.size ?? String(DEFAULT_SIZE_MB);
  const sizeMb = /^\d+(\.\d+)?$/.test(sizeText.trim()) ? Number(sizeText) : Number.NaN;
  if (!(sizeMb > 0 && sizeMb <= MAX_SIZE_MB)) {
    throw new UsageError(
      `--size must be a number of megabytes from 0.001 to ${MAX_SIZE_MB}, got ${JSON.stringify(sizeText)}`,
    );
  }
  const transports = values.transport ?? ['udp', 'tcp'];
  for (const transport of transports) {
    if (transport !== 'udp' && transport !== 'tcp') {
      throw new UsageError(`--transport must be udp or tcp, got ${JSON.stringify(transport)}`);
    }
  }
  return {
    help: false,
    options: {
      sizeBytes: Math.max(1, Math.round(sizeMb * 1e6)),
      transports: [...new Set(transports)] as ('udp' | 'tcp')[],
    },
  };
}

function cleanParseArgsError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split(/\.\s|\n/)[0]!.replace(/\.$/, '');
  const unknown = /^Unknown option '(.+)'$/.exec(first);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missing = /^Option '(.+?)(?: <value>)?' argument (missing|is ambiguous)$/.exec(first);
  if (missing) return `${missing[1]!.replace(/^-\w, /, '')} needs a value`;
  const noValue = /^Option '(.+?)' does not take an argument$/.exec(first);
  if (noValue) return `${noValue[1]!.replace(/^-\w, /, '')} does not take a value`;
  const positional = /^Unexpected argument '(.+)'$/.exec(first);
  if (positional) return `unexpected argument ${JSON.stringify(positional[1])}`;
  return first.charAt(0).toLowerCase() + first.slice(1);
}
