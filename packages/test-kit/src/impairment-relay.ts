/**
 * A seeded UDP man-in-the-middle for tests: loss, duplication, reordering, delay and jitter, bit-flip
 * corruption, a token-bucket rate cap with a bounded (tail-drop) queue, and blackout windows, in both
 * directions.
 *
 * The decisions live in a sans-IO {@link ImpairedPath} driven by an injected clock, so tests can replay a
 * seed without sockets; {@link createImpairmentRelay} wires two paths to real sockets. Every datagram
 * consumes the same number of draws from its direction's generator, so datagram `k`'s fate depends only
 * on the seed and `k`: enabling corruption does not reshuffle which datagrams are lost.
 *
 * @example
 * ```ts
 * const relay = await createImpairmentRelay({ target: { host: '127.0.0.1', port }, seed: 7, loss: 0.02 });
 * client.send(bytes, relay.address.port, relay.address.host);
 * await relay.close();
 * ```
 */
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { AnttError, ErrorCode } from '@antt/core';

const DEFAULT_REORDER_DELAY_MS = 5;
const DEFAULT_DUPLICATE_MAX_DELAY_MS = 2;
const MIN_BURST_BYTES = 3_000;
/** A token bucket holds 20 ms of traffic unless told otherwise. */
const DEFAULT_BURST_SECONDS = 0.02;
/** Like a router buffer sized to about 100 ms of the link's rate. */
const DEFAULT_QUEUE_SECONDS = 0.1;
const MIN_QUEUE_BYTES = 64 * 1024;
const DEFAULT_MAX_CLIENTS = 256;
/** Datagrams held for a client whose upstream socket is still connecting. */
const MAX_PENDING_PER_CLIENT = 256;
const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** xoshiro128** (Blackman & Vigna), seeded through splitmix32; small, fast and reproducible. */
export class Xoshiro128 {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix32 = (): number => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = splitmix32();
    this.#s1 = splitmix32();
    this.#s2 = splitmix32();
    this.#s3 = splitmix32() | 1; // never the all-zero state
  }

  nextUint32(): number {
    const s1 = this.#s1;
    const product = Math.imul(s1, 5);
    const result = Math.imul((product << 7) | (product >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = (this.#s3 << 11) | (this.#s3 >>> 21);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4_294_967_296;
  }
}

/** What one direction of the relay does to datagrams. Probabilities are in [0, 1]. */
export interface ImpairmentProfile {
  loss?: number;
  duplicate?: number;
  /** The copy follows the original after 0..duplicateMaxDelayMs (default 2 ms). */
  duplicateMaxDelayMs?: number;
  /** Probability that a datagram is held back so later ones overtake it. */
  reorder?: number;
  /** How long a reordered datagram is held back: 0.5..1.5 × this (default 5 ms). */
  reorderDelayMs?: number;
  delayMs?: number;
  /** Uniform ±jitterMs around delayMs; jitter alone never reorders (use `reorder` for that). */
  jitterMs?: number;
  /** Probability of flipping 1..3 distinct random bits of a datagram. */
  corrupt?: number;
  rateBytesPerSecond?: number;
  /** Token bucket depth: how much may leave back-to-back after an idle spell (default 20 ms of rate). */
  burstBytes?: number;
  /** Bytes that may wait behind the rate cap before new arrivals are dropped (default 100 ms of rate). */
  queueBytes?: number;
}

export interface BlackoutWindow {
  /** Relative to the relay's start. */
  startMs: number;
  durationMs: number;
}

export interface PathStats {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Sum of the three causes below. */
  dropped: number;
  droppedLoss: number;
  droppedBlackout: number;
  droppedQueue: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
}

function emptyStats(): PathStats {
  return {
    datagramsIn: 0,
    datagramsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    dropped: 0,
    droppedLoss: 0,
    droppedBlackout: 0,
    droppedQueue: 0,
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
  };
}

function checkProbability(name: string, value: number): number {
  if (!(value >= 0 && value <= 1))
    throw new AnttError(ErrorCode.INVALID_ARGUMENT, `${name} must be a probability in [0, 1], got ${value}`);
  return value;
}

function checkNonNegative(name: string, value: number): number {
  if (!(value >= 0 && Number.isFinite(value))) {
    throw new AnttError(ErrorCode.INVALID_ARGUMENT, `${name} must be a finite number >= 0, got ${value}`);
  }
  return value;
}

/** Blackout windows on the relay's clock (ms since start); shared by both directions. */
export class BlackoutSchedule {
  #windows: Array<{ from: number; until: number }> = [];

  add(startMs: number, durationMs: number): void {
    checkNonNegative('blackout startMs', startMs);
    checkNonNegative('blackout durationMs', durationMs);
    this.#windows.push({ from: startMs, until: startMs + durationMs });
  }

  isDark(nowMs: number): boolean {
    let dark = false;
    let expired = false;
    for (const w of this.#windows) {
      if (w.until <= nowMs) expired = true;
      else if (w.from <= nowMs) dark = true;
    }
    if (expired) this.#windows = this.#windows.filter((w) => w.until > nowMs);
    return dark;
  }
}

/**
 * One direction of impairment, without sockets: {@link admit} decides a datagram's fate at `nowMs` and
 * calls `deliver(atMs, bytes)` zero, one or two times (two when duplicated).
 */
export class ImpairedPath {
  readonly stats: PathStats = emptyStats();
  readonly #rng: Xoshiro128;
  readonly #blackouts: BlackoutSchedule;
  readonly #loss: number;
  readonly #duplicate: number;
  readonly #duplicateMaxDelayMs: number;
  readonly #reorder: number;
  readonly #reorderDelayMs: number;
  readonly #delayMs: number;
  readonly #jitterMs: number;
  readonly #corrupt: number;
  readonly #rate: number;
  readonly #burstMs: number;
  readonly #queueBytes: number;
  /** Virtual time at which the rate-capped link finishes sending what it has accepted. */
  #linkFreeAtMs = Number.NEGATIVE_INFINITY;
  /** Latest in-order delivery time, so jitter never reorders. */
  #lastDeliveryMs = Number.NEGATIVE_INFINITY;

  constructor(profile: ImpairmentProfile, seed: number, blackouts = new BlackoutSchedule()) {
    this.#rng = new Xoshiro128(seed);
    this.#blackouts = blackouts;
    this.#loss = checkProbability('loss', profile.loss ?? 0);
    this.#duplicate = checkProbability('duplicate', profile.duplicate ?? 0);
    this.#duplicateMaxDelayMs = checkNonNegative(
      'duplicateMaxDelayMs',
      profile.duplicateMaxDelayMs ?? DEFAULT_DUPLICATE_MAX_DELAY_MS,
    );
    this.#reorder = checkProbability('reorder', profile.reorder ?? 0);
    this.#reorderDelayMs = checkNonNegative(
      'reorderDelayMs',
      profile.reorderDelayMs ?? DEFAULT_REORDER_DELAY_MS,
    );
    this.#delayMs = checkNonNegative('delayMs', profile.delayMs ?? 0);
    this.#jitterMs = checkNonNegative('jitterMs', profile.jitterMs ?? 0);
    this.#corrupt = checkProbability('corrupt', profile.corrupt ?? 0);
    this.#rate = checkNonNegative('rateBytesPerSecond', profile.rateBytesPerSecond ?? 0);
    const burstBytes = profile.burstBytes ?? Math.max(MIN_BURST_BYTES, this.#rate * DEFAULT_BURST_SECONDS);
    this.#burstMs = this.#rate > 0 ? (checkNonNegative('burstBytes', burstBytes) * 1000) / this.#rate : 0;
    this.#queueBytes = checkNonNegative(
      'queueBytes',
      profile.queueBytes ?? Math.max(MIN_QUEUE_BYTES, this.#rate * DEFAULT_QUEUE_SECONDS),
    );
  }

  /** Whether a datagram leaving at `nowMs` falls in a blackout (then it is dropped and counted). */
  dropIfDark(nowMs: number): boolean {
    if (!this.#blackouts.isDark(nowMs)) return false;
    this.stats.droppedBlackout++;
    this.stats.dropped++;
    return true;
  }

  admit(datagram: Uint8Array, nowMs: number, deliver: (atMs: number, bytes: Uint8Array) => void): void {
    const stats = this.stats;
    const rng = this.#rng;
    stats.datagramsIn++;
    stats.bytesIn += datagram.length;
    // Eleven draws for every datagram, whatever happens to it, so datagram k's fate depends only on the
    // seed and k.
    const uLoss = rng.next();
    const uCorrupt = rng.next();
    const rBits = rng.nextUint32();
    const rBit0 = rng.nextUint32();
    const rBit1 = rng.nextUint32();
    const rBit2 = rng.nextUint32();
    const uDuplicate = rng.next();
    const uDuplicateGap = rng.next();
    const uReorder = rng.next();
    const uReorderHold = rng.next();
    const uJitter = rng.next();

    if (this.#blackouts.isDark(nowMs)) {
      stats.droppedBlackout++;
      stats.dropped++;
      return;
    }
    if (uLoss < this.#loss) {
      stats.droppedLoss++;
      stats.dropped++;
      return;
    }

    let departMs = nowMs;
    if (this.#rate > 0) {
      const serializationMs = (datagram.length * 1000) / this.#rate;
      const fullBucketMs = nowMs - this.#burstMs;
      if (this.#linkFreeAtMs < fullBucketMs) this.#linkFreeAtMs = fullBucketMs;
      const backlogBytes = Math.max(0, ((this.#linkFreeAtMs - nowMs) * this.#rate) / 1000);
      if (backlogBytes + datagram.length > this.#queueBytes) {
        stats.droppedQueue++;
        stats.dropped++;
        return;
      }
      this.#linkFreeAtMs += serializationMs;
      if (this.#linkFreeAtMs > departMs) departMs = this.#linkFreeAtMs;
    }

    let bytes = datagram;
    if (uCorrupt < this.#corrupt && datagram.length > 0) {
      bytes = flipBits(datagram, 1 + (rBits % 3), rBit0, rBit1, rBit2);
      stats.corrupted++;
    }

    let deliverMs = departMs + this.#delayMs;
    if (this.#jitterMs > 0) deliverMs = Math.max(departMs, deliverMs + this.#jitterMs * (2 * uJitter - 1));
    if (uReorder < this.#reorder) {
      stats.reordered++;
      deliverMs += this.#reorderDelayMs * (0.5 + uReorderHold);
    } else {
      if (deliverMs < this.#lastDeliveryMs) deliverMs = this.#lastDeliveryMs;
      this.#lastDeliveryMs = deliverMs;
    }
    deliver(deliverMs, bytes);
    if (uDuplicate < this.#duplicate) {
      stats.duplicated++;
      deliver(deliverMs + this.#duplicateMaxDelayMs * uDuplicateGap, bytes);
    }
  }
}

/** Flips `count` distinct bits chosen by the three draws; `datagram` itself is left untouched. */
function flipBits(datagram: Uint8Array, count: number, r0: number, r1: number, r2: number): Uint8Array {
  const copy = Buffer.from(datagram);
  const bits = copy.length * 8;
  const positions: number[] = [];
  for (const r of [r0, r1, r2].slice(0, count)) {
    let position = r % bits;
    // Distinct positions, so two flips never cancel out; a 1-byte datagram still has 8 bits to choose from.
    while (positions.includes(position)) position = (position + 1) % bits;
    positions.push(position);
    copy[position >>> 3]! ^= 1 << (position & 7);
  }
  return copy;
}

/** Min-heap of scheduled sends keyed by (atMs, sequence), so equal times keep arrival order. */
interface ScheduledSend {
  atMs: number;
  sequence: number;
  bytes: Uint8Array;
  client: ClientSession;
  toTarget: boolean;
}

class SendQueue {
  readonly #heap: ScheduledSend[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): ScheduledSend | undefined {
    return this.#heap[0];
  }

  push(item: ScheduledSend): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  pop(): ScheduledSend | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }

  clear(): void {
    this.#heap.length = 0;
  }
}

function before(a: ScheduledSend, b: ScheduledSend): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.sequence < b.sequence);
}

interface ClientSession {
  address: string;
  port: number;
  upstream: Socket;
  /** Datagrams toward the target that were due before the upstream socket finished connecting. */
  pending: Uint8Array[] | null;
}

export interface ImpairmentRelayOptions extends ImpairmentProfile {
  target: { host: string; port: number };
  /** uint32; a random one is chosen (and exposed as `relay.seed`) when omitted. */
  seed?: number;
  /** Per-direction overrides of the top-level profile. */
  toTarget?: ImpairmentProfile;
  toClient?: ImpairmentProfile;
  blackouts?: BlackoutWindow[];
  bind?: { host?: string; port?: number };
  /** Distinct client addresses served; datagrams from more are dropped. Default 256. */
  maxClients?: number;
  socketBufferBytes?: number;
}

export interface ImpairmentRelay {
  /** Where clients should send. */
  readonly address: { host: string; port: number };
  readonly seed: number;
  /** A snapshot of the counters of both directions. */
  readonly stats: { toTarget: PathStats; toClient: PathStats; clients: number; clientsRefused: number };
  /** Drops everything, in both directions, for the next `durationMs`. */
  blackout(durationMs: number): void;
  close(): Promise<void>;
}

/** Seeds for the two directions, derived from the relay's seed so they are independent streams. */
const TO_TARGET_STREAM = 0x746f7467; // "totg"
const TO_CLIENT_STREAM = 0x746f636c; // "tocl"

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

function setBuffers(socket: Socket, bytes: number): void {
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
  } catch {
    // Capped by net.core.rmem_max / wmem_max; the kernel's size is good enough for tests.
  }
}

/** Starts a relay in front of `target`; resolves once it is listening. */
export async function createImpairmentRelay(options: ImpairmentRelayOptions): Promise<ImpairmentRelay> {
  const seed = (options.seed ?? randomInt(0, 2 ** 32)) >>> 0;
  const { target, toTarget, toClient, blackouts: windows, bind, ...shared } = options;
  const maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
  const socketBufferBytes = options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES;
  const blackouts = new BlackoutSchedule();
  for (const w of windows ?? []) blackouts.add(w.startMs, w.durationMs);
  const toTargetPath = new ImpairedPath({ ...shared, ...toTarget }, seed ^ TO_TARGET_STREAM, blackouts);
  const toClientPath = new ImpairedPath({ ...shared, ...toClient }, seed ^ TO_CLIENT_STREAM, blackouts);

  const bindHost = bind?.host ?? '127.0.0.1';
  const listener = createSocket({ type: isIPv6(bindHost) ? 'udp6' : 'udp4' });
  const clients = new Map<string, ClientSession>();
  const queue = new SendQueue();
  const startMs = performance.now();
  let sequence = 0;
  let timer: NodeJS.Timeout | undefined;
  let timerAtMs = Number.POSITIVE_INFINITY;
  let closed = false;
  let clientsRefused = 0;
  let current: ClientSession | undefined;
  let currentToTarget = true;

  const now = (): number => performance.now() - startMs;

  const transmit = (client: ClientSession, toTarget: boolean, bytes: Uint8Array): void => {
    const path = toTarget ? toTargetPath : toClientPath;
    if (path.dropIfDark(now())) return;
    path.stats.datagramsOut++;
    path.stats.bytesOut += bytes.length;
    if (!toTarget) listener.send(bytes, client.port, client.address);
    else if (client.pending) {
      if (client.pending.length < MAX_PENDING_PER_CLIENT) client.pending.push(bytes);
    } else client.upstream.send(bytes);
  };

  const flushDue = (): void => {
    const nowMs = now();
    for (let next = queue.peek(); next !== undefined && next.atMs <= nowMs; next = queue.peek()) {
      queue.pop();
      transmit(next.client, next.toTarget, next.bytes);
    }
  };

  const onTimer = (): void => {
    timer = undefined;
    timerAtMs = Number.POSITIVE_INFINITY;
    if (closed) return;
    flushDue();
    arm();
  };

  const arm = (): void => {
    const next = queue.peek();
    if (next === undefined || next.atMs >= timerAtMs) return;
    if (timer) clearTimeout(timer);
    timerAtMs = next.atMs;
    timer = setTimeout(onTimer, Math.max(0, next.atMs - now()));
    timer.unref();
  };

  // One bound function per relay, not a closure per datagram: `current` says whose datagram is deciding.
  const deliver = (atMs: number, bytes: Uint8Array): void => {
    const client = current!;
    if (atMs <= now()) {
      flushDue(); // earlier datagrams that are already due go first
      transmit(client, currentToTarget, bytes);
      return;
    }
    queue.push({ atMs, sequence: sequence++, bytes, client, toTarget: currentToTarget });
    arm();
  };

  const admit = (client: ClientSession, toTarget: boolean, bytes: Uint8Array): void => {
    if (closed) return;
    current = client;
    currentToTarget = toTarget;
    (toTarget ? toTargetPath : toClientPath).admit(bytes, now(), deliver);
    current = undefined;
  };

  const openClient = (address: string, port: number): ClientSession | undefined => {
    const key = `${address}|${port}`;
    const known = clients.get(key);
    if (known || clients.size >= maxClients) {
      if (!known) clientsRefused++;
      return known;
    }
    const upstream = createSocket({ type: isIPv6(target.host) ? 'udp6' : 'udp4' });
    const client: ClientSession = { address, port, upstream, pending: [] };
    clients.set(key, client);
    // A connected socket gets ECONNREFUSED from ICMP when the target is not listening: that is a lost
    // datagram, not a relay failure.
    upstream.on('error', () => {});
    upstream.on('message', (bytes) => admit(client, false, bytes));
    upstream.connect(target.port, target.host, () => {
      setBuffers(upstream, socketBufferBytes);
      const pending = client.pending ?? [];
      client.pending = null;
      if (!closed) for (const bytes of pending) upstream.send(bytes);
    });
    return client;
  };

  listener.on('error', () => {});
  listener.on('message', (bytes, remote) => {
    const client = openClient(remote.address, remote.port);
    if (client) admit(client, true, bytes);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.bind(bind?.port ?? 0, bindHost, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  setBuffers(listener, socketBufferBytes);
  const bound = listener.address();
  const address = {
    host: bound.address === '0.0.0.0' ? '127.0.0.1' : bound.address === '::' ? '::1' : bound.address,
    port: bound.port,
  };

  return {
    address,
    seed,
    get stats() {
      return {
        toTarget: { ...toTargetPath.stats },
        toClient: { ...toClientPath.stats },
        clients: clients.size,
        clientsRefused,
      };
    },
    blackout(durationMs: number): void {
      blackouts.add(now(), durationMs);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      queue.clear();
      const sockets = [listener, ...[...clients.values()].map((c) => c.upstream)];
      clients.clear();
      await Promise.all(sockets.map(closeSocket));
      // libuv frees closed handles in the loop's close phase, which follows the check phase: after two
      // turns no handle of ours is listed by process.getActiveResourcesInfo().
      await setImmediatePromise();
      await setImmediatePromise();
    },
  };
}
