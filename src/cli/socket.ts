/**
 * The master's listening socket: bound once by the master, inherited by every
 * worker on fd 3, accepted from by the workers only.
 *
 * Why not `node:cluster`: its workers cannot share an inherited `fd:N`
 * (lighttpd `bin-path`, spawn-fcgi and mod_fcgid hand the socket over on fd
 * 0), its default round-robin mode makes the master accept every connection,
 * and a worker's `listen()` on a unix path would run our stale-socket check
 * against the live socket of its siblings. Instead the master binds the
 * socket without polling it (as cluster's own `SCHED_NONE` mode does, through
 * `net._createServerHandle`), keeps one descriptor open for its whole life (so
 * the kernel queues connections while a worker is being replaced), and gives
 * a copy to each worker as fd 3, which the worker listens on with `fd:3`
 * (the same place systemd socket activation puts it). The kernel then hands
 * each connection to one idle worker.
 * @module
 */
import { lookup } from 'node:dns/promises';
import { chmodSync, fstatSync, readFileSync, readlinkSync } from 'node:fs';
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { ConfigError } from '../errors.js';
import { formatAddress, parseAddress } from '../net/address.js';
import { bindUnderMode, removeStaleSocket } from '../net/listen.js';

/** A bound listening socket held by the master. */
export interface BoundSocket {
  /** The descriptor workers inherit. */
  fd: number;
  /** The bound address (`HOST:PORT` with the real port, `unix:/path`, `fd:N`). */
  address: string;
  /** Closes the master's descriptor (and removes a unix socket file it created). */
  close(): void;
}

interface NativeHandle {
  fd: number;
  getsockname?(out: { address?: string; port?: number }): number;
  close(cb?: () => void): void;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number) => NativeHandle | number;

/**
 * Binds `text` (`unix:/path`, `HOST:PORT`, `:PORT`, `fd:N`) for workers to
 * listen on. A stale unix socket file left by a crash is removed; a live one
 * is `NSGI_ERR_ADDRESS_IN_USE`. `fd:N` must be an inherited socket.
 */
export async function bindSocket(text: string, options: { socketMode?: number } = {}): Promise<BoundSocket> {
  const address = parseAddress(text);
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
  const fail = (code: number): never => {
    const name = getSystemErrorName(code);
    if (name === 'EADDRINUSE') throw new ConfigError('NSGI_ERR_ADDRESS_IN_USE', `address: ${formatAddress(address)} is in use by another process`);
    throw new ConfigError('NSGI_ERR_LISTEN', `address: cannot listen on ${formatAddress(address)}: ${name}`);
  };
  if (address.kind === 'fd') {
    if (!isListeningSocket(address.fd)) throw new ConfigError('NSGI_ERR_LISTEN', `address: fd:${address.fd} is not an inherited listening socket`);
    return { fd: address.fd, address: text, close: () => {} };
  }
  if (address.kind === 'unix') {
    await removeStaleSocket(address.path);
    const handle = bindUnderMode(options.socketMode ?? 0o660, () => create(address.path, -1, -1));
    if (typeof handle === 'number') fail(handle);
    const h = handle as NativeHandle;
    chmodSync(address.path, options.socketMode ?? 0o660);
    // libuv removes the socket file when the handle that bound it closes.
    return { fd: h.fd, address: formatAddress(address), close: () => h.close() };
  }
  let host = address.host;
  const family = net.isIP(host);
  if (family === 0) {
    try {
      host = (await lookup(host)).address;
    } catch (err) {
      throw new ConfigError('NSGI_ERR_LISTEN', `address: cannot resolve host ${JSON.stringify(address.host)}: ${(err as Error).message}`, { cause: err });
    }
  }
  const handle = create(host, address.port, net.isIP(host));
  if (typeof handle === 'number') fail(handle);
  const h = handle as NativeHandle;
  const out: { address?: string; port?: number } = {};
  h.getsockname?.(out);
  return { fd: h.fd, address: formatAddress({ kind: 'tcp', host: out.address ?? host, port: out.port ?? address.port }), close: () => h.close() };
}

/**
 * Whether descriptor `fd` is a listening socket (what a web server leaves on
 * fd 0 for a FastCGI app: the spec's FCGI_LISTENSOCK_FILENO), not merely a
 * socket: a parent process that pipes our stdin (a test runner, a process
 * manager) gives a connected socket, which must not be mistaken for one. On
 * Linux the kernel's socket tables tell (`/proc/net/unix` flag
 * `__SO_ACCEPTCON`, TCP state `0A`); elsewhere any socket counts.
 */
export function isListeningSocket(fd: number): boolean {
  try {
    if (!fstatSync(fd).isSocket()) return false;
  } catch {
    return false;
  }
  let inode: string;
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    if (!m) return true;
    inode = m[1]!;
  } catch {
    return true; // no /proc: trust the descriptor type
  }
  const table = (name: string): string[][] => {
    try {
      return readFileSync(`/proc/net/${name}`, 'utf8').split('\n').slice(1).map((line) => line.trim().split(/\s+/));
    } catch {
      return [];
    }
  };
  for (const row of table('unix')) if (row[6] === inode) return (parseInt(row[3] ?? '0', 16) & 0x10000) !== 0;
  for (const row of [...table('tcp'), ...table('tcp6')]) if (row[9] === inode) return row[3] === '0A';
  return false;
}
