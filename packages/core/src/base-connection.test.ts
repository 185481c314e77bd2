import { describe, expect, it } from 'vitest';
import { BaseConnection } from './base-connection.js';
import { AnttError, ClosedError, ErrorCode } from './errors.js';
import type { Address } from './types.js';

/** A transport whose handshake is driven by the test. */
class ScriptedConnection extends BaseConnection {
  readonly transport = 'scripted';
  connectSignal: AbortSignal | undefined;
  deadlineSeen: number | undefined;
  destroyedAbruptly: boolean | undefined;
  failWith: Error | undefined;

  get localAddress(): Address {
    return { host: '127.0.0.1', port: 1 };
  }
  get remoteAddress(): Address {
    return { host: '127.0.0.1', port: 2 };
  }
  protected _connect(signal: AbortSignal): Promise<void> {
    this.connectSignal = signal;
    this.deadlineSeen = this.connectDeadline;
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(this.failWith ?? signal.reason), { once: true });
    });
  }
  protected async _send(): Promise<void> {}
  protected async _close(): Promise<void> {}
  protected _destroy(_error: Error | undefined, abrupt: boolean): void {
    this.destroyedAbruptly = abrupt;
  }
}

describe('BaseConnection', () => {
  it('tells the transport its connect deadline', async () => {
    const connection = new ScriptedConnection();
    const before = Date.now();
    const connecting = connection.connect({ timeout: 30 });
    expect(connection.deadlineSeen).toBeGreaterThanOrEqual(before + 30);
    await expect(connecting).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
  });

  it('aborts the handshake when destroyed while connecting', async () => {
    const connection = new ScriptedConnection();
    const connecting = connection.connect({ timeout: 10_000 });
    connection.destroy();
    expect(connection.connectSignal?.aborted).toBe(true);
    const error = await connecting.catch((e: unknown) => e);
    expect((error as AnttError).code).toBe(ErrorCode.CLOSED);
    expect(connection.destroyedAbruptly).toBe(true);
  });

  it("keeps a transport's specific reason over the generic timeout", async () => {
    const connection = new ScriptedConnection();
    connection.failWith = new AnttError(ErrorCode.REFUSED, 'every attempt was refused with a TCP reset');
    const error = await connection.connect({ timeout: 20 }).catch((e: unknown) => e);
    expect((error as AnttError).code).toBe(ErrorCode.REFUSED);
    expect(connection.closeError).toBe(error);
  });

  it('rejects bad options with the option name', () => {
    expect(() => new ScriptedConnection({ receiveBufferBytes: -1 })).toThrowError(/receiveBufferBytes/);
  });

  it('does not crash on an error without error listeners', () => {
    const connection = new ScriptedConnection();
    void connection.connect().catch(() => {});
    expect(() => connection.destroy(new ClosedError('gone'))).not.toThrow();
    expect(connection.state).toBe('closed');
  });
});

class QueueingConnection extends ScriptedConnection {
  drainedAt: number[] = [];
  protected override _connect(): Promise<void> {
    return Promise.resolve();
  }
  protected override _onReceiveQueueDrained(): void {
    this.drainedAt.push(this._queuedBytes);
  }
  push(bytes: number): void {
    this._deliver(new Uint8Array(bytes));
  }
}

describe('receive queue drain signals', () => {
  it('tells the transport below the limit, below half and when empty', async () => {
    const connection = new QueueingConnection({ receiveBufferBytes: 1000 });
    await connection.connect();
    for (let i = 0; i < 12; i++) connection.push(100);
    for (let i = 0; i < 12; i++) await connection.receive();
    expect(connection.drainedAt).toEqual([900, 400, 0]);
    // A queue that never filled stays quiet.
    connection.push(100);
    await connection.receive();
    expect(connection.drainedAt).toHaveLength(3);
  });
});
