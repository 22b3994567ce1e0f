/**
 * The FastCGI wire codec, apart from any socket: record header constants and
 * helpers (§3.3, §8), name-value pairs (§3.4), the sans-I/O record parser
 * and the zero-copy record writer. Exported from the package root as the
 * `fastcgi` namespace, for tools, tests and other servers built on nsgi's
 * codec.
 *
 * @example
 * ```ts
 * import { fastcgi } from 'nsgi';
 * const parser = new fastcgi.RecordParser({
 *   record: (type, id, length) => console.log(fastcgi.recordTypeName(type), id, length),
 *   content: () => {},
 *   recordEnd: () => {},
 * });
 * parser.push(bytes);
 * ```
 * @module
 */
export * from './protocol.js';
export { ParamsDecoder, encodeParams, decodeParams, DEFAULT_MAX_PARAMS_BYTES, type ParamsDecoderOptions } from './params.js';
export { RecordParser, type RecordHandler } from './parser.js';
export { RecordWriter, MAX_RECORD_CONTENT, type RecordWriterOptions } from './writer.js';
