import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from './address.js';
import { ErrorCode } from './errors.js';

describe('parseAddress', () => {
  it('parses IPv4, IPv6 and host names', () => {
    expect(parseAddress('203.0.113.2:4456')).toEqual({ host: '203.0.113.2', port: 4456, family: 'IPv4' });
    expect(parseAddress('[2001:db8::2]:80')).toEqual({ host: '2001:db8::2', port: 80, family: 'IPv6' });
    expect(parseAddress('example.test:1')).toEqual({ host: 'example.test', port: 1 });
  });

  it.each([
    '',
    '1.2.3.4',
    '1.2.3.4:',
    ':80',
    '1.2.3.4:0',
    '1.2.3.4:65536',
    '2001:db8::1:80',
    '[::1]80',
    'a:b',
  ])('rejects %j with a clear error', (text) => {
    expect(() => parseAddress(text)).toThrowError(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it('formats both families back', () => {
    expect(formatAddress({ host: '::1', port: 9 })).toBe('[::1]:9');
    expect(formatAddress({ host: '127.0.0.1', port: 9 })).toBe('127.0.0.1:9');
  });
});
