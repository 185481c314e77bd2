/**
 * Who may connect and how the connection is protected: the one place that turns the command line into
 * the transports' security options (`identity`, `passphrase`, `allowedPeers`).
 */
import type { Connection } from '@antt/core';
import { Identity } from '@antt/secure';

export interface SecurityArgs {
  identityPath: string;
  passphrase: string | undefined;
  peerIds: string[];
}

/** The options both transports take (`@antt/udp`, `@antt/tcp`). */
export interface SecurityOptions {
  identity: Identity;
  passphrase?: string;
  allowedPeers?: Iterable<string>;
}

/** What a connection tells about its protection once open (both transports). */
export type SecuredConnection = Connection & { readonly remotePeerId?: string; readonly encrypted?: boolean };

/**
 * Loads (or creates) this side's identity and returns the options for the transport. With a passphrase
 * and no peer id, any peer that knows the passphrase may connect; with peer ids, only those.
 */
export async function securityOptions(args: SecurityArgs): Promise<SecurityOptions> {
  const identity = await Identity.loadOrCreate(args.identityPath);
  return {
    identity,
    ...(args.passphrase !== undefined ? { passphrase: args.passphrase } : {}),
    ...(args.peerIds.length > 0 ? { allowedPeers: args.peerIds } : {}),
  };
}

export function isEncrypted(connection: Connection): boolean {
  return (connection as SecuredConnection).encrypted === true;
}

export function remotePeerIdOf(connection: Connection): string | undefined {
  const value = (connection as SecuredConnection).remotePeerId;
  return typeof value === 'string' ? value : undefined;
}

/** The chat never asks for `insecure`, so every connection is encrypted; anything else is said plainly. */
export function describeProtection(connection: Connection): string {
  return isEncrypted(connection) ? 'encrypted' : 'NOT encrypted';
}

/**
 * A handshake failure (`ANTT_ERR_AUTH`) in words that stay the same from one attempt to the next (the
 * two sides take turns at which one detects it, and the transports word it from that side), so the
 * person sees it once rather than alternating lines.
 */
export function describeAuthFailure(message: string): string {
  // Through a rendezvous, connect() puts its stage in front: "handshake with H:P (relayed) failed: ".
  const reason = message.replace(
    /^(?:handshake with \S+(?: \(relayed\))? failed: )?the security handshake with (?:the peer )?\S+ failed: /,
    '',
  );
  if (/(did not prove it knows|did not prove we know) the passphrase/.test(reason)) {
    return 'the passphrases do not match (a wrong --passphrase on one side)';
  }
  if (
    /uses a passphrase but none is configured here|a passphrase is configured here but the peer did not use one|one side is configured with a passphrase and the other is not/.test(
      reason,
    )
  ) {
    return 'one side gives a --passphrase and the other does not (give the same one on both sides, or none)';
  }
  const notAllowed = /^peer id (\S+) is not in the allowed list/.exec(reason)?.[1];
  if (notAllowed) return `its peer id is ${notAllowed}, not the --peer-id given here`;
  const weAreNot = /our peer id is not in its allowed list \(this side's peer id is (\S+?)\)/.exec(
    reason,
  )?.[1];
  if (weAreNot) return `it does not accept our peer id ${weAreNot} (its --peer-id names another)`;
  return reason;
}
