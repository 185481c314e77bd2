import type { Socket } from 'node:net';

/** Reads land in this one reused buffer when no message wants them directly. */
const SCRATCH_BYTES = 64 * 1024;
/** A message still missing at least this many bytes is read straight into its own buffer. */
const DIRECT_READ_MIN_BYTES = 16 * 1024;

export interface DirectTarget {
  /** A view to read the next bytes into (the rest of a message being assembled), or undefined. */
  readTarget(minBytes: number): Buffer | undefined;
  /** `bytes` were read into the last view {@link readTarget} returned. */
  commitRead(bytes: number): void;
}

export type ChunkHandler = (chunk: Buffer) => void;

const sinks = new WeakMap<Socket, ReadSink>();

/**
 * Where an outgoing socket's reads go, through Node's `onread` option: into the remaining part of a large
 * message being assembled (the kernel copies straight into the buffer the application will receive, in
 * reads as large as the message allows), or into one scratch buffer reused for every read. Node's
 * `net.Server` cannot take `onread` in Node 20, so accepted sockets use 'data' events instead; see
 * {@link onChunks}.
 */
export class ReadSink {
  readonly #scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  #handler: ChunkHandler | undefined;
  #direct: DirectTarget | undefined;
  /** Bytes read before anyone listened (copied, since the scratch buffer is reused). */
  #early: Buffer[] = [];

  readonly onread = {
    buffer: (): Uint8Array => this.#direct?.readTarget(DIRECT_READ_MIN_BYTES) ?? this.#scratch,
    // Returning false would pause the socket; the connection pauses it itself when its queue is full.
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      if (buffer !== this.#scratch) {
        this.#direct?.commitRead(bytes);
        return true;
      }
      const chunk = this.#scratch.subarray(0, bytes);
      if (this.#handler) this.#handler(chunk);
      else this.#early.push(Buffer.from(chunk));
      return true;
    },
  };

  attach(socket: Socket): void {
    sinks.set(socket, this);
  }

  setHandler(handler: ChunkHandler | undefined): void {
    this.#handler = handler;
    if (handler && this.#early.length > 0) {
      // In one piece, so a handler that finishes its job part-way still sees (and returns) the rest.
      const early = Buffer.concat(this.#early.splice(0));
      handler(early);
    }
  }

  setDirectTarget(target: DirectTarget | undefined): void {
    this.#direct = target;
  }
}

/**
 * Calls `handler` with each chunk the socket reads; returns the remover. For sockets with a
 * {@link ReadSink} the chunk is only valid during the call (see {@link chunksAreTransient}).
 */
export function onChunks(socket: Socket, handler: ChunkHandler): () => void {
  const sink = sinks.get(socket);
  if (sink) {
    sink.setHandler(handler);
    return () => sink.setHandler(undefined);
  }
  socket.on('data', handler);
  return () => socket.off('data', handler);
}

/** True when chunks are views of a buffer that the next read overwrites. */
export function chunksAreTransient(socket: Socket): boolean {
  return sinks.has(socket);
}

/** Lets reads go straight into the messages `target` is assembling, where the socket supports it. */
export function setDirectTarget(socket: Socket, target: DirectTarget | undefined): void {
  sinks.get(socket)?.setDirectTarget(target);
}
