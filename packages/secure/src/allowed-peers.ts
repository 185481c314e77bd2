/**
 * Allow lists, like SSH's authorized_keys: one peer id per line, `#` starts a comment, blank lines are
 * ignored, anything after the id on a line (a name, say) is a comment too.
 */
import { readFile } from 'node:fs/promises';
import { AnttError, ErrorCode } from '@antt/core';
import { type PeerId, parsePeerId } from './peer-id.js';

/** A list, a set, or a function deciding per peer id (for lists that change while running). */
export type AllowedPeers = Iterable<PeerId | string> | ((peerId: PeerId) => boolean);

/** Normalises an AllowedPeers option into a predicate; bad ids throw at configuration time. */
export function allowedPeersPredicate(allowed: AllowedPeers): (peerId: PeerId) => boolean {
  if (typeof allowed === 'function') return allowed;
  const set = new Set<PeerId>();
  for (const entry of allowed) set.add(parsePeerId(entry));
  return (peerId) => set.has(peerId);
}

/** Parses allow-list text; `source` names the file in error messages. */
export function parseAllowedPeers(text: string, source = 'allowed peers'): Set<PeerId> {
  const peers = new Set<PeerId>();
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    const content = line.replace(/#.*/, '').trim();
    if (content === '') continue;
    const [first] = content.split(/\s+/);
    try {
      peers.add(parsePeerId(first!));
    } catch (cause) {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, `${source}:${index + 1}: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
  return peers;
}

/** Reads an allow-list file (see parseAllowedPeers for the format). */
export async function loadAllowedPeers(
  path: string,
  options: { signal?: AbortSignal } = {},
): Promise<Set<PeerId>> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (cause) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read the allowed-peers file ${path} (${(cause as NodeJS.ErrnoException).code ?? cause})`,
      { cause },
    );
  }
  return parseAllowedPeers(text, path);
}
