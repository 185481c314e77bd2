/**
 * Many datagrams per system call on the send path, through the optional @antt/native addon (Linux:
 * sendmmsg, with runs of equal-sized datagrams sent as UDP GSO segments). One datagram per
 * `socket.send` costs a system call and a libuv request each; a burst of 64 costs one call here.
 *
 * Order and the endpoint's buffer ring stay as with `socket.send` alone: the addon is only used while
 * libuv has nothing queued on the socket (`getSendQueueCount() === 0`), so nothing sent earlier can
 * leave after what the addon sends now, and every buffer the kernel took is free again when the call
 * returns. Whatever the kernel did not take (a full socket buffer) goes through `socket.send`, which
 * queues it in libuv as before. Without the addon (not built, not Linux, ANTT_NATIVE=0) every datagram
 * goes through `socket.send`.
 */
import type { Socket } from 'node:dgram';
import { loadNative, type NativeAddon, udpSocketFd } from '@antt/native';

/** Cached socket addresses per destination; more distinct destinations than this clear the cache. */
const MAX_CACHED_ADDRESSES = 256;

type BatchAddon = Required<Pick<NativeAddon, 'sendBatch' | 'socketAddress'>>;

let enabled = true;

/** Internal switch for tests and benchmarks (not exported from the package): false sends one by one. */
export function setBatchSends(on: boolean): void {
  enabled = on;
}

function batchAddon(): BatchAddon | null {
  const native = loadNative();
  if (
    native === null ||
    typeof native.sendBatch !== 'function' ||
    typeof native.socketAddress !== 'function'
  ) {
    return null;
  }
  return native as BatchAddon;
}

export interface BatchSenderStats {
  /** sendmmsg calls made. */
  batchCalls: number;
  /** Datagrams the kernel took through them. */
  datagramsBatched: number;
}

export class BatchSender {
  readonly #socket: Socket;
  /** Called once per datagram once its buffer is free (the kernel has it, or sending it failed). */
  readonly #onSent: () => void;
  readonly #addon: BatchAddon | null;
  #fd = -2;
  #gso = true;
  readonly #addresses = new Map<string, Buffer | null>();
  readonly stats: BatchSenderStats = { batchCalls: 0, datagramsBatched: 0 };

  constructor(socket: Socket, onSent: () => void) {
    this.#socket = socket;
    this.#onSent = onSent;
    this.#addon = enabled ? batchAddon() : null;
  }

  /** Sends `datagrams[0..count)` to host:port in this order. */
  send(datagrams: Uint8Array[], count: number, host: string, port: number): void {
    let taken = 0;
    const addon = this.#addon;
    if (addon !== null && count > 1 && this.#socket.getSendQueueCount() === 0) {
      taken = this.#sendBatch(addon, datagrams, count, host, port);
      for (let i = 0; i < taken; i++) this.#onSent();
    }
    for (let i = taken; i < count; i++) this.#socket.send(datagrams[i]!, port, host, this.#onSent);
  }

  /** Datagrams the kernel took through the addon (0 when it cannot be used for this destination). */
  #sendBatch(addon: BatchAddon, datagrams: Uint8Array[], count: number, host: string, port: number): number {
    if (this.#fd === -2) this.#fd = udpSocketFd(this.#socket);
    if (this.#fd < 0) return 0;
    const key = `${host}|${port}`;
    let address = this.#addresses.get(key);
    if (address === undefined) {
      if (this.#addresses.size >= MAX_CACHED_ADDRESSES) this.#addresses.clear();
      address = addon.socketAddress(host, port);
      this.#addresses.set(key, address);
    }
    if (address === null) return 0; // not an IP literal: dgram resolves it
    this.stats.batchCalls++;
    let result = addon.sendBatch(this.#fd, address, datagrams, count, this.#gso);
    if (result < 0 && this.#gso) {
      // No GSO on this path (EIO without checksum offload, EINVAL on old kernels)? Plain sendmmsg, and
      // if that works, no GSO from now on.
      result = addon.sendBatch(this.#fd, address, datagrams, count, false);
      if (result > 0) this.#gso = false;
    }
    // Another error (unreachable, a firewall's EPERM): socket.send reports it the usual way.
    if (result <= 0) return 0;
    this.stats.datagramsBatched += result;
    return result;
  }
}
