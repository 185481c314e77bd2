import { createSocket, type RemoteInfo } from 'node:dgram';
import type { Address } from '@antt/core';
import {
  decodeStunMessage,
  encodeStunMessage,
  newTransactionId,
  type StunMessage,
  type StunMessageInit,
} from '../../src/stun/message.js';

/** What the fake server does with the n-th request (0-based): answer, drop, or send these bytes. */
export type FakeBehaviour = (
  request: StunMessage,
  from: RemoteInfo,
  index: number,
) => 'answer' | 'drop' | Uint8Array | Uint8Array[] | Partial<StunMessageInit>;

export interface FakeStunServer {
  address: Address;
  /** Requests received, in order, with their arrival time (performance.now()). */
  requests: Array<{ message: StunMessage; at: number; from: Address }>;
  close(): Promise<void>;
}

/** A loopback STUN server whose answers the test scripts. */
export async function startFakeStunServer(
  behaviour: FakeBehaviour = () => 'answer',
): Promise<FakeStunServer> {
  const socket = createSocket('udp4');
  const requests: FakeStunServer['requests'] = [];
  socket.on('message', (bytes, from) => {
    let message: StunMessage;
    try {
      message = decodeStunMessage(bytes);
    } catch {
      return;
    }
    if (message.class !== 'request') return;
    const index = requests.length;
    requests.push({ message, at: performance.now(), from: { host: from.address, port: from.port } });
    const action = behaviour(message, from, index);
    if (action === 'drop') return;
    const answers =
      action === 'answer' || !(action instanceof Uint8Array || Array.isArray(action))
        ? [
            encodeStunMessage({
              class: 'success',
              transactionId: message.transactionId,
              xorMappedAddress: { host: from.address, port: from.port },
              ...(action === 'answer' ? {} : action),
            }),
          ]
        : Array.isArray(action)
          ? action
          : [action];
    for (const answer of answers) socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    address: { host: '127.0.0.1', port },
    requests,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A well-formed success answer to a transaction nobody asked about. */
export function strayAnswer(mapped: Address): Uint8Array {
  return encodeStunMessage({ class: 'success', transactionId: newTransactionId(), xorMappedAddress: mapped });
}
