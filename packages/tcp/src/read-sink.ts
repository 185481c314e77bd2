import { Socket } from 'node:net';

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
 * Where a socket's reads go, through Node's `onread` option: into the remaining part of a large message
 * being assembled (the kernel copies straight into the buffer the application will receive, in reads as
 * large as the message allows), or into one scratch buffer reused for every read. Without it, Node reads
 * into a freshly allocated 64 KiB buffer per read and emits it through the stream machinery, and each
 * large message is copied together from those chunks: about four times the receiver's user CPU and many
 * more page faults per GiB on loopback. Dialled sockets take `onread` at connect; accepted ones get it
 * from {@link adoptAccepted}.
 */
export class ReadSink {
  readonly #scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  #handler: ChunkHandler | undefined;
  #direct: DirectTarget | undefined;
  /** Bytes read before anyone listened (copied, since the scratch buffer is reused). */
  #early: Buffer[] = [];
  /** Node asked for a buffer: it honours `onread` on this socket. */
  #lent = false;

  readonly onread = {
    buffer: (): Uint8Array => {
      this.#lent = true;
      return this.#direct?.readTarget(DIRECT_READ_MIN_BYTES) ?? this.#scratch;
    },
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

  /** True once Node has asked this sink for a buffer to read into. */
  get used(): boolean {
    return this.#lent;
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

/** The part of a net.Socket that moves its kernel socket to another net.Socket (Node's own field). */
interface SocketWithHandle {
  _handle?: object | null;
}

/**
 * Moves a socket accepted with `pauseOnConnect: true` (so nothing was read from it yet) into a new
 * net.Socket that reads through a {@link ReadSink}, exactly like a dialled one. Node 20's `net.Server`
 * takes no `onread`, but a `net.Socket` constructed around an existing handle does (it installs the
 * user buffer before it starts reading). The handle (the kernel socket, its fd and TCP state) passes to
 * the new socket; the old one is retired without closing it.
 *
 * Returns `accepted` itself, still paused, where the move is not possible (not paused, already read or
 * written, or a Node without the handle field): it then reads through 'data' events as before. Returns a
 * socket that reads through 'data' events too if this Node ignored `onread` for a handle.
 */
export function adoptAccepted(accepted: Socket, options: { allowHalfOpen: boolean }): Socket {
  const internal = accepted as Socket & SocketWithHandle;
  const handle = internal._handle;
  const untouched =
    accepted.readableFlowing === false &&
    accepted.bytesRead === 0 &&
    accepted.writableLength === 0 &&
    !accepted.destroyed;
  if (typeof handle !== 'object' || handle === null || !untouched) return accepted;
  const sink = new ReadSink();
  // Detached first, so retiring the old socket below neither reads from nor closes the kernel socket.
  internal._handle = null;
  const adopted = new Socket({
    handle,
    allowHalfOpen: options.allowHalfOpen,
    readable: true,
    writable: true,
    onread: sink.onread,
  } as ConstructorParameters<typeof Socket>[0]);
  // Releases the server's count of this connection; with no handle there is nothing else to release.
  accepted.destroy();
  // Node asks for the first buffer while constructing: if it did not, it reads through 'data' events.
  if (sink.used) sink.attach(adopted);
  return adopted;
}
