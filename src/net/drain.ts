/**
 * Waiting for a writable to take more: the backpressure step every
 * {@link ResponseSink} shares. One promise per stream at a time, so a body
 * loop that asks twice does not stack listeners.
 * @module
 */
import type { EventEmitter } from 'node:events';
import type { ResponseSink } from '../response.js';

const waiting = new WeakMap<EventEmitter, Promise<void>>();

/**
 * Resolves when `stream` emits 'drain', or 'close' or 'error' (a stream that
 * died will take nothing more, and the caller sees that through its own
 * state). Never rejects, as {@link ResponseSink.body} promises must not.
 */
export function drained(stream: EventEmitter): Promise<void> {
  let promise = waiting.get(stream);
  if (promise === undefined) {
    promise = new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        stream.off('error', done);
        waiting.delete(stream);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
      stream.on('error', done);
    });
    waiting.set(stream, promise);
  }
  return promise;
}
