import { expect, it } from 'vitest';
import { MessageQueue } from './message-queue.js';

it('keeps FIFO order and a byte count across compactions', () => {
  const queue = new MessageQueue();
  let pushed = 0;
  let shifted = 0;
  let bytes = 0;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3000; i++, pushed++) {
      queue.push(Uint8Array.of(pushed & 0xff, (pushed >> 8) & 0xff));
      bytes += 2;
    }
    for (let i = 0; i < 2500; i++, shifted++) {
      const message = queue.shift();
      const index = message ? message[0]! | (message[1]! << 8) : -1;
      if (index !== (shifted & 0xffff)) expect.fail(`message ${shifted} came out as ${index}`);
      bytes -= 2;
    }
    expect(queue.bytes).toBe(bytes);
    expect(queue.length).toBe(pushed - shifted);
  }
  queue.clear();
  expect(queue.shift()).toBeUndefined();
  expect(queue.bytes).toBe(0);
});
