/**
 * `pnpm bench`: encode/decode throughput of @antt/packet against JSON and msgpackr, measured in the same
 * process, after warmup, with the codecs interleaved round by round so that drift (thermal, GC, other
 * load) hits all of them alike. Prints ratios: absolute numbers vary by machine, ratios much less.
 *
 * Ratios are taken round by round (each codec's run divided by the reference's run in the same round,
 * seconds apart) and the median of those is shown, which keeps them steady even on a busy machine whose
 * speed drifts; the ops/s columns are medians over rounds.
 *
 * Environment: BENCH_ROUND_MS (default 200) sets the length of one measuring run per codec and
 * operation; BENCH_ROUNDS (default 11) how many rounds the medians are taken over.
 */

import { pack, unpack } from 'msgpackr';
import { Packet, type PacketValue } from '../src/index.js';
import { largeMessage, smallMessages } from './fixtures.js';

const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
/** Warmup per codec and operation before any round counts, so every codec is optimised by then. */
const WARMUP_MS = ROUND_MS;
const BYTES_PER_MB = 1e6;

interface Codec {
  readonly name: string;
  /** Prepares the inputs this codec decodes (its own encoding of each message) and their sizes. */
  encode(message: PacketValue): unknown;
  decode(encoded: unknown): unknown;
  size(encoded: unknown): number;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** JSON cannot carry bytes, so Uint8Array fields go as base64 strings and come back through Buffer. */
function toJsonable(message: PacketValue): unknown {
  if (message instanceof Uint8Array)
    return Buffer.from(message.buffer, message.byteOffset, message.length).toString('base64');
  if (message !== null && typeof message === 'object' && !Array.isArray(message)) {
    const record = message as Record<string, PacketValue>;
    if (Object.values(record).some((value) => value instanceof Uint8Array)) {
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(record)) copy[key] = toJsonable(record[key]!);
      return copy;
    }
  }
  return message;
}

function fromJsonable(value: unknown, bytesKey: string | undefined): unknown {
  if (bytesKey !== undefined && value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    record[bytesKey] = Buffer.from(record[bytesKey] as string, 'base64');
  }
  return value;
}

function codecs(bytesKey: string | undefined): Codec[] {
  return [
    {
      name: '@antt/packet',
      encode: (message) => new Packet(message).encode(),
      decode: (encoded) => Packet.decode(encoded as Uint8Array).values[0],
      size: (encoded) => (encoded as Uint8Array).length,
    },
    {
      name: 'JSON (string)',
      encode: (message) => JSON.stringify(bytesKey === undefined ? message : toJsonable(message)),
      decode: (encoded) => fromJsonable(JSON.parse(encoded as string), bytesKey),
      size: (encoded) => Buffer.byteLength(encoded as string),
    },
    {
      name: 'JSON + UTF-8 bytes',
      encode: (message) =>
        utf8.encode(JSON.stringify(bytesKey === undefined ? message : toJsonable(message))),
      decode: (encoded) => fromJsonable(JSON.parse(utf8Decoder.decode(encoded as Uint8Array)), bytesKey),
      size: (encoded) => (encoded as Uint8Array).length,
    },
    {
      name: 'msgpackr',
      encode: (message) => pack(message),
      decode: (encoded) => unpack(encoded as Uint8Array),
      size: (encoded) => (encoded as Uint8Array).length,
    },
  ];
}

/** Keeps results observable so the optimiser cannot drop the work. */
const sink: { value: unknown } = { value: undefined };

/** Runs `operation` over every input in turn for about `ms` milliseconds; returns operations per second. */
function opsPerSecond(operation: (input: never) => unknown, inputs: readonly unknown[], ms: number): number {
  const run = operation as (input: unknown) => unknown;
  let operations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(ms * 1e6));
  let now = start;
  while (now < deadline) {
    for (const input of inputs) sink.value = run(input);
    operations += inputs.length;
    now = process.hrtime.bigint();
  }
  return operations / (Number(now - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Result {
  readonly codec: string;
  /** ops/s of each round, in round order. */
  readonly encodeRounds: readonly number[];
  readonly decodeRounds: readonly number[];
  readonly bytesPerMessage: number;
}

/** Median over rounds of this round's ops/s divided by the reference's ops/s in the same round. */
function pairedRatio(rounds: readonly number[], reference: readonly number[]): number {
  return median(rounds.map((ops, round) => ops / reference[round]!));
}

function benchmark(messages: readonly PacketValue[], bytesKey: string | undefined): Result[] {
  const list = codecs(bytesKey);
  const encoded = list.map((codec) => messages.map((message) => codec.encode(message)));
  const sizes = list.map(
    (codec, c) => encoded[c]!.reduce<number>((sum, e) => sum + codec.size(e), 0) / messages.length,
  );
  // Sanity: every codec must give back what it was given before its speed means anything.
  const check = Packet.decode(encoded[0]![0] as Uint8Array);
  if (!check.equals(new Packet(messages[0]!))) throw new Error('packet round trip failed in the benchmark');

  for (const [c, codec] of list.entries()) {
    opsPerSecond(codec.encode, messages, WARMUP_MS);
    opsPerSecond(codec.decode, encoded[c]!, WARMUP_MS);
  }
  const encodeRounds: number[][] = list.map(() => []);
  const decodeRounds: number[][] = list.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [c, codec] of list.entries()) {
      encodeRounds[c]!.push(opsPerSecond(codec.encode, messages, ROUND_MS));
      decodeRounds[c]!.push(opsPerSecond(codec.decode, encoded[c]!, ROUND_MS));
    }
  }
  return list.map((codec, c) => ({
    codec: codec.name,
    encodeRounds: encodeRounds[c]!,
    decodeRounds: decodeRounds[c]!,
    bytesPerMessage: sizes[c]!,
  }));
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const ratio = (value: number): string => `${value >= 10 ? integer.format(value) : value.toFixed(2)}x`;

function printTable(title: string, results: readonly Result[]): void {
  const json = results.find((r) => r.codec === 'JSON (string)')!;
  const msgpackr = results.find((r) => r.codec === 'msgpackr')!;
  console.log(`\n### ${title}\n`);
  console.log(
    '| codec | bytes/msg | encode ops/s | encode MB/s | decode ops/s | decode MB/s | encode vs JSON | decode vs JSON | encode vs msgpackr | decode vs msgpackr |',
  );
  console.log('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of results) {
    const encodeOps = median([...r.encodeRounds]);
    const decodeOps = median([...r.decodeRounds]);
    const mbps = (ops: number) => oneDecimal.format((ops * r.bytesPerMessage) / BYTES_PER_MB);
    console.log(
      `| ${r.codec} | ${integer.format(r.bytesPerMessage)} | ${integer.format(encodeOps)} | ${mbps(encodeOps)} | ` +
        `${integer.format(decodeOps)} | ${mbps(decodeOps)} | ` +
        `${ratio(pairedRatio(r.encodeRounds, json.encodeRounds))} | ${ratio(pairedRatio(r.decodeRounds, json.decodeRounds))} | ` +
        `${ratio(pairedRatio(r.encodeRounds, msgpackr.encodeRounds))} | ` +
        `${ratio(pairedRatio(r.decodeRounds, msgpackr.decodeRounds))} |`,
    );
  }
}

console.log(
  `@antt/packet benchmark: node ${process.version}, ${ROUNDS} rounds of ${ROUND_MS} ms per codec and ` +
    'operation; ops/s are medians, ratios are medians of same-round ratios (higher is better).',
);
printTable('(a) small messages: 1,024 chat-like objects, cycled', benchmark(smallMessages(), undefined));
const large = largeMessage();
printTable(
  '(b) large payload: 1 MiB Uint8Array in an object (JSON: base64 string)',
  benchmark([large], 'data'),
);
sink.value = undefined;
