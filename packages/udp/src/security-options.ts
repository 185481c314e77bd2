/**
 * Who may connect, and whether the connection is secured at all: the options both Antt transports take
 * (the same names and rule as @antt/tcp), checked once in the constructor (or `listen()`) so a mistake
 * fails at startup, not at the first connection. An endpoint's options are the defaults of the
 * connections it makes and accepts; a connection given any of them uses only its own.
 */
import {
  createSecureContext,
  type ResolvedSecurity,
  type SecureContext,
  type TransportSecurityOptions,
} from '@antt/secure';

export {
  createSecureContext,
  type ResolvedSecurity,
  resolveSecurityOptions,
  SECURITY_CHOICES,
} from '@antt/secure';
export type UdpSecurityOptions = TransportSecurityOptions;

/** The option names above: a connection that gives any of them does not inherit its endpoint's. */
export const SECURITY_OPTION_NAMES = [
  'identity',
  'passphrase',
  'passphraseContext',
  'allowedPeers',
  'acceptAnyPeer',
  'insecure',
] as const satisfies readonly (keyof UdpSecurityOptions)[];

export function hasSecurityOptions(options: UdpSecurityOptions): boolean {
  return SECURITY_OPTION_NAMES.some((name) => options[name] !== undefined);
}

/** The security options alone. */
export function pickSecurityOptions(options: UdpSecurityOptions): UdpSecurityOptions {
  const picked: Record<string, unknown> = {};
  for (const name of SECURITY_OPTION_NAMES) if (options[name] !== undefined) picked[name] = options[name];
  return picked as UdpSecurityOptions;
}

/** Everything but the security options. */
export function omitSecurityOptions<T extends object>(options: T): T {
  const rest = { ...options } as Record<string, unknown>;
  for (const name of SECURITY_OPTION_NAMES) delete rest[name];
  return rest as T;
}

/**
 * A resolved security choice and its SecureContext, created once on first use (stretching a passphrase
 * takes tens of milliseconds; scrypt results are cached per process) and shared by every connection
 * that uses it: an endpoint's connections share its identity.
 */
export class SecuritySource {
  readonly security: ResolvedSecurity;
  #context: Promise<SecureContext> | undefined;
  /** The context once created (synchronous access for connections accepted later). */
  ready: SecureContext | undefined;

  constructor(security: ResolvedSecurity) {
    this.security = security;
  }

  /** Undefined with `insecure: true`. */
  context(): Promise<SecureContext> | undefined {
    const security = this.security;
    if (!security.secured) return undefined;
    if (!this.#context) {
      this.#context = createSecureContext(security).then((context) => {
        this.ready = context;
        return context;
      });
      this.#context.catch(() => {});
    }
    return this.#context;
  }

  get localPeerId(): string | undefined {
    return this.security.secured ? this.security.identity.peerId : undefined;
  }
}
