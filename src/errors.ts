/**
 * Typed errors with stable codes.
 *
 * Every error nsgi raises on its own is an {@link NsgiError}: `err.code` is a
 * stable `NSGI_ERR_*` string (match on it, never on the message), and the
 * message opens with a short prefix naming the layer (`fastcgi: `, `scgi: `,
 * `response: `...). The catalog of codes is `docs/errors.md`; a test keeps the
 * two in sync, so a new code needs a line there.
 *
 * @example
 * ```ts
 * import { NsgiError } from 'nsgi';
 * try { await client.request('/') } catch (err) {
 *   if (err instanceof NsgiError && err.code === 'NSGI_ERR_FASTCGI_VERSION') { ... }
 * }
 * ```
 * @module
 */

/** The base class of every error nsgi raises. */
export class NsgiError extends Error {
  /** A stable identifier, e.g. `NSGI_ERR_INVALID_STATUS`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return 'NsgiError';
  }
}

/** The app broke the contract (bad status, headers, body, startResponse misuse). */
export class ContractError extends NsgiError {
  override get name(): string {
    return 'ContractError';
  }
}

/** A peer sent bytes that break its protocol; the connection is closed. */
export class ProtocolError extends NsgiError {
  override get name(): string {
    return 'ProtocolError';
  }
}

/** A configured limit was exceeded. `limit` is the value in force. */
export class LimitError extends NsgiError {
  readonly limit: number;

  constructor(code: string, message: string, limit: number) {
    super(code, message);
    this.limit = limit;
  }

  override get name(): string {
    return 'LimitError';
  }
}

/** Bad user configuration: an address, an option, a module that is not an app. */
export class ConfigError extends NsgiError {
  override get name(): string {
    return 'ConfigError';
  }
}

/** The client or web server went away before the response was complete. */
export class AbortedError extends NsgiError {
  constructor(message = 'request aborted: the client or web server went away') {
    super('NSGI_ERR_ABORTED', message);
  }

  override get name(): string {
    return 'AbortedError';
  }
}
