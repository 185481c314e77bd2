/**
 * The receive side's out-queue: FIFO of whole messages, with a byte count so transports can stop reading
 * (or shrink their flow-control window) while the application is not keeping up.
 */
const COMPACT_AFTER_ITEMS = 1024;

export class MessageQueue {
  private items: (Uint8Array | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  push(message: Uint8Array): void {
    this.items.push(message);
    this.queuedBytes += message.byteLength;
  }

  shift(): Uint8Array | undefined {
    if (this.head >= this.items.length) return undefined;
    const message = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head >= COMPACT_AFTER_ITEMS && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (message !== undefined) this.queuedBytes -= message.byteLength;
    return message;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.queuedBytes = 0;
  }
}
