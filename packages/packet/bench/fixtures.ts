/**
 * Benchmark inputs, built deterministically (a seeded PRNG, no Math.random) so every run and every
 * machine measures the same bytes.
 */

import type { PacketValue } from '../src/index.js';

/** Distinct small messages cycled through, so no codec can win by caching one object. */
export const SMALL_MESSAGE_COUNT = 1024;
/** The large payload: 1 MiB of bytes, as a photo or a file chunk would be. */
export const LARGE_PAYLOAD_BYTES = 1024 * 1024;

/** Mulberry32: tiny, fast, good enough to vary fixtures; not for anything that needs real randomness. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'hello',
  'there',
  'are',
  'you',
  'coming',
  'tonight',
  'the',
  'build',
  'passed',
  'merge',
  'it',
  'lunch',
  'at',
  'noon',
  'see',
  'café',
  'later',
  'ok',
  '👍',
  'thanks',
];
const USERS = ['ada', 'grace', 'linus', 'margaret', 'ken', 'barbara', 'dennis', 'radia'];
const ROOMS = ['general', 'random', 'dev', 'ops'];
/** Unix time in ms at which the fixture conversation starts (2024-11-24T12:26:40Z). */
const CONVERSATION_START_MS = 1_732_451_200_000;

/**
 * Chat-like traffic: mostly chat lines, some presence updates, typing notices and acks, with the mix of
 * strings, integers, booleans, a float and small arrays a real app sends. Contains no bytes, so JSON
 * needs no base64 detour here.
 */
export function smallMessages(seed = 1): Record<string, PacketValue>[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const messages: Record<string, PacketValue>[] = [];
  for (let i = 0; i < SMALL_MESSAGE_COUNT; i++) {
    const kind = random();
    const sentAt = CONVERSATION_START_MS + i * 1375;
    if (kind < 0.6) {
      const words = Array.from({ length: 2 + Math.floor(random() * 12) }, () => pick(WORDS));
      messages.push({
        type: 'chat',
        id: 100_000 + i,
        room: pick(ROOMS),
        from: pick(USERS),
        text: words.join(' '),
        sentAt,
        edited: random() < 0.1,
        mentions: random() < 0.3 ? [pick(USERS), pick(USERS)] : [],
        reactions: random() < 0.2 ? { '👍': 2, seen: 5 } : {},
      });
    } else if (kind < 0.8) {
      messages.push({
        type: 'presence',
        user: pick(USERS),
        online: random() < 0.7,
        lastSeen: sentAt,
        latencyMs: Math.round(random() * 25_000) / 100,
      });
    } else if (kind < 0.9) {
      messages.push({ type: 'typing', room: pick(ROOMS), user: pick(USERS), active: true });
    } else {
      messages.push({
        type: 'ack',
        ids: [100_000 + i - 3, 100_000 + i - 2, 100_000 + i - 1],
        room: pick(ROOMS),
      });
    }
  }
  return messages;
}

/** One large message: a file's metadata and 1 MiB of content. */
export function largeMessage(seed = 2): { name: string; mime: string; size: number; data: Uint8Array } {
  const random = seededRandom(seed);
  const data = new Uint8Array(LARGE_PAYLOAD_BYTES);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  return { name: 'holiday-photo.jpg', mime: 'image/jpeg', size: data.length, data };
}
