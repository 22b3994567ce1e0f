/**
 * Listening addresses as users write them: `unix:/path/to.sock`, `HOST:PORT`,
 * `[::1]:PORT`, `:PORT`, or `fd:N` (a listening socket inherited on that
 * descriptor, as lighttpd `bin-path`, Apache `mod_fcgid` and `spawn-fcgi`
 * give it on fd 0). Shared by every transport and the CLI.
 * @module
 */
import { ConfigError } from '../errors.js';

/** A parsed listening address. */
export type Address =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'fd'; fd: number };

/**
 * Parses an address string. `:PORT` binds loopback (127.0.0.1): a gateway
 * should not be reachable from other hosts unless asked, so write
 * `0.0.0.0:PORT` to listen on every interface. Port 0 picks a free port.
 * Throws `NSGI_ERR_ADDRESS` with the accepted forms.
 */
export function parseAddress(text: string): Address {
  const bad = (why: string): ConfigError =>
    new ConfigError('NSGI_ERR_ADDRESS', `address: ${JSON.stringify(text)} ${why}; use unix:/path/to.sock, HOST:PORT, :PORT or fd:N`);
  if (typeof text !== 'string' || text.length === 0) throw bad('is empty');
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path.length === 0) throw bad('names no socket path');
    return { kind: 'unix', path };
  }
  if (text.startsWith('fd:')) {
    const fd = text.slice(3);
    if (!/^\d+$/.test(fd)) throw bad('needs a descriptor number');
    return { kind: 'fd', fd: Number(fd) };
  }
  if (text.startsWith('/')) return { kind: 'unix', path: text };
  const colon = text.lastIndexOf(':');
  if (colon === -1) throw bad('has no port');
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw bad('has no valid port (0-65535)');
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') host = '127.0.0.1';
  return { kind: 'tcp', host, port: Number(portText) };
}

/** Formats an address back into the string form `parseAddress` reads. */
export function formatAddress(address: Address): string {
  switch (address.kind) {
    case 'unix':
      return `unix:${address.path}`;
    case 'fd':
      return `fd:${address.fd}`;
    case 'tcp':
      return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
  }
}
