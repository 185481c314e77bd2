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

/** What a connection tells about its protection once open (both transports, once security is wired). */
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

/**
 * `true`/`false` when the transport reports it; `undefined` for a transport that predates encryption
 * (it then ignores the security options, and the chat says so instead of pretending).
 */
export function isEncrypted(connection: Connection): boolean | undefined {
  const value = (connection as SecuredConnection).encrypted;
  return typeof value === 'boolean' ? value : undefined;
}

export function remotePeerIdOf(connection: Connection): string | undefined {
  const value = (connection as SecuredConnection).remotePeerId;
  return typeof value === 'string' ? value : undefined;
}

export function describeProtection(connection: Connection): string {
  const encrypted = isEncrypted(connection);
  if (encrypted === true) return 'encrypted';
  if (encrypted === false) return 'NOT encrypted';
  return 'NOT encrypted: no encryption in this build of the transport';
}
