/**
 * Who may connect, and whether the connection is secured at all: the options and the rule every Antt
 * transport shares, defined once in @antt/secure.
 */
export {
  createSecureContext,
  type ResolvedSecurity,
  resolveSecurityOptions,
  SECURITY_CHOICES,
  type TransportSecurityOptions as TcpSecurityOptions,
} from '@antt/secure';
