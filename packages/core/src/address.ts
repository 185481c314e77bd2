import { isIP } from 'node:net';
import { AnttError, ErrorCode } from './errors.js';
import type { Address } from './types.js';

/** `203.0.113.2:4456` or `[2001:db8::2]:4456`. */
export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Parses `host:port`, `[v6]:port` or a bare IPv6 literal with a port after the last colon only when
 * bracketed. Throws ANTT_ERR_INVALID_ARGUMENT with the offending text on anything else.
 */
export function parseAddress(text: string): Address {
  const trimmed = text.trim();
  let host: string;
  let portText: string;
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close < 0 || trimmed[close + 1] !== ':') throw badAddress(text);
    host = trimmed.slice(1, close);
    portText = trimmed.slice(close + 2);
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon <= 0 || trimmed.indexOf(':') !== colon) throw badAddress(text);
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) throw badAddress(text);
  const port = Number(portText);
  if (port < 1 || port > 65535 || host.length === 0) throw badAddress(text);
  const version = isIP(host);
  return version === 0 ? { host, port } : { host, port, family: version === 6 ? 'IPv6' : 'IPv4' };
}

function badAddress(text: string): AnttError {
  return new AnttError(
    ErrorCode.INVALID_ARGUMENT,
    `"${text}" is not an address: expected host:port, for example 203.0.113.2:4456 or [2001:db8::2]:4456`,
  );
}
