/**
 * `nsgi/testing`: run apps and middleware chains in unit tests, with no
 * sockets. `createEnviron()` builds a request; `TestClient` runs it through
 * the same response driver the servers use.
 *
 * @example
 * ```ts
 * import { TestClient } from 'nsgi/testing';
 * const res = await new TestClient(app).post('/items', { name: 'x' });
 * expect(res.status).toBe(201);
 * ```
 * @module nsgi/testing
 */
export { createEnviron, type EnvironOptions, type TestBody } from './environ.js';
export { TestClient, TestResponse, runInMemory, type RequestOptions, type TestClientOptions } from './client.js';
