/**
 * Binding a `net.Server` (or `http.Server`) to an {@link Address}, with the
 * care a long-lived gateway needs on unix sockets: a stale socket file left by
 * a crashed run is removed (a live one is an error, never stolen), the mode is
 * set for the web server's user, and the file is removed again on close.
 * @module
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { ConfigError } from '../errors.js';
import { formatAddress, parseAddress, type Address } from './address.js';

/** Options for {@link listen}. */
export interface ListenOptions {
  /** Permission bits for a unix socket file (default: `0o660`: the owner and its group, e.g. www-data). */
  socketMode?: number;
  /** Listen backlog (default: `511`). */
  backlog?: number;
}

/**
 * Listens on `address` and resolves to the bound address as a string (with
 * the real port when 0 was asked). Rejects with `NSGI_ERR_ADDRESS_IN_USE`
 * when another live process holds it.
 */
export async function listen(server: Server, target: string | Address, options: ListenOptions = {}): Promise<string> {
  const address = typeof target === 'string' ? parseAddress(target) : target;
  const backlog = options.backlog ?? 511;
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(new ConfigError('NSGI_ERR_ADDRESS_IN_USE', `address: ${formatAddress(address)} is in use by another process`));
      } else {
        reject(new ConfigError('NSGI_ERR_LISTEN', `address: cannot listen on ${formatAddress(address)}: ${err.message}`, { cause: err }));
      }
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    if (address.kind === 'unix') bindUnderMode(options.socketMode ?? 0o660, () => server.listen({ path: address.path, backlog }));
    else if (address.kind === 'fd') server.listen({ fd: address.fd, backlog });
    else server.listen({ host: address.host, port: address.port, backlog });
  });
  if (address.kind === 'unix') {
    chmodSync(address.path, options.socketMode ?? 0o660);
    // Remove the file when the server closes, so the next start finds a clean path.
    server.once('close', () => {
      try {
        unlinkSync(address.path);
      } catch {
        // Already gone (Node may unlink it itself): nothing to do.
      }
    });
    return formatAddress(address);
  }
  return boundAddress(server, address);
}

/** The address a listening server is bound to, as a string. */
export function boundAddress(server: Server, requested?: Address): string {
  const a = server.address();
  if (a === null) return requested ? formatAddress(requested) : '';
  if (typeof a === 'string') return `unix:${a}`;
  return formatAddress({ kind: 'tcp', host: a.address, port: a.port });
}

/**
 * Clears the way for a unix socket at `path`: a stale socket file (nobody
 * accepts on it) is removed; a live one, or a file that is not a socket, is
 * `NSGI_ERR_ADDRESS_IN_USE`.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // no file: nothing to clean
  }
  if (!isSocket) {
    throw new ConfigError('NSGI_ERR_ADDRESS_IN_USE', `address: ${path} exists and is not a socket; refusing to replace it`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new ConfigError('NSGI_ERR_ADDRESS_IN_USE', `address: unix:${path} is in use by another process`);
  unlinkSync(path);
}

/**
 * Runs `bind` (which creates a unix socket file synchronously) under a umask
 * that gives the file at most `mode`: chmod afterwards alone would leave it
 * connectable by others between bind() and chmod() under a permissive umask.
 * The chmod still follows, for the bits a umask cannot add.
 */
export function bindUnderMode<T>(mode: number, bind: () => T): T {
  const saved = process.umask(0o777 & ~mode);
  try {
    return bind();
  } finally {
    process.umask(saved);
  }
}
