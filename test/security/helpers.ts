// Shared by the security tests: raw sockets (a hostile client is not a well-behaved HTTP client)
// and a logger that keeps what the servers refused.
import { connect } from 'node:net';
import type { Logger } from '../../src/types.js';

/**
 * Sends `request` on a fresh TCP connection and resolves with every byte received until the
 * server closes it (or `waitMs` passes, then the socket is destroyed).
 */
export function rawTCP(port: number, request: string | Buffer, waitMs = 2000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  });
}

/** A logger that records the error codes it was given. */
export function recordingLogger(): Logger & { codes: string[]; messages: string[] } {
  const codes: string[] = [];
  const messages: string[] = [];
  return {
    codes,
    messages,
    error(message: string, error?: unknown) {
      messages.push(message + (error instanceof Error ? `: ${error.message}` : ''));
      const code = (error as { code?: unknown } | undefined)?.code;
      if (typeof code === 'string') codes.push(code);
    },
  } as Logger & { codes: string[]; messages: string[] };
}

/** A wsgi.errors sink that drops everything (the tests check the logger or the wire). */
export const quietErrors = { write: () => true } as unknown as NodeJS.WritableStream;
