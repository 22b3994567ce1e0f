/**
 * nsgi: WSGI for Node. Write a web app once as a plain function over a
 * CGI-style environ, wrap it in composable middleware, and serve it over
 * FastCGI, SCGI, HTTP or CGI behind nginx, lighttpd or Apache.
 *
 * @example
 * ```ts
 * import { compose, serve, validate, type App } from 'nsgi';
 *
 * const hello: App = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return [`Hello from ${environ.SCRIPT_NAME}${environ.PATH_INFO}\n`];
 * };
 * await serve(compose(validate())(hello), { http: '127.0.0.1:8000' });
 * ```
 * @module nsgi
 */
export type { App, Body, Chunk, Environ, HeaderList, Logger, Middleware, StartResponse, WriteFn } from './types.js';
export { NsgiError, ContractError, ProtocolError, LimitError, ConfigError, AbortedError } from './errors.js';
export { compose } from './compose.js';
export { buildEnviron, decodePath, schemeOf, cgiHeaderName, type EnvironExtras } from './environ.js';
export { parseStatus, validateHeaders, cgiHead, getHeader, type Status } from './headers.js';
export { runApp, toBytes, type ResponseSink, type Outcome } from './response.js';
export { type NsgiServer, type CommonServerOptions, stderrLogger } from './server.js';
export { serve, transports, oneShotTransports, type ServeOptions, type Serving, type TransportFactory } from './serve.js';
export { parseAddress, formatAddress, type Address } from './net/address.js';
export { listen, type ListenOptions } from './net/listen.js';
export { createHTTPServer, type HTTPServerOptions } from './http/server.js';
export { toNodeHandler, type NodeHandlerOptions } from './http/node-handler.js';
export { validate, checkEnviron } from './middleware/validate.js';
export { builtinMiddlewares, type MiddlewareFromConfig } from './middleware/index.js';
export { PrefixMiddleware, type PrefixOptions } from './middleware/prefix.js';
export { FastCGIFixMiddleware, type FastCGIFixOptions } from './middleware/fastcgi-fix.js';
export { LighttpdRootFix, type LighttpdRootFixOptions } from './middleware/lighttpd-root-fix.js';
export { PathInfoFromRequestURI, type PathInfoFromRequestURIOptions } from './middleware/path-info-from-request-uri.js';
export { ProxyFix, type ProxyFixOptions } from './middleware/proxy-fix.js';
export { StaticAlias, type StaticAliasOptions } from './middleware/static-alias.js';
export { URLMap, type URLMapOptions, type URLMapParams } from './middleware/urlmap.js';
export { originalValue, ORIG_KEY, type OriginalValues } from './middleware/orig.js';
export { CGIResponseParser, type CGIHead, type CGIResponseParserOptions } from './cgi-response.js';
export { createSCGIServer, type SCGIServerOptions } from './scgi/server.js';
export { SCGIHeaderParser, encodeSCGIHeader, type SCGIHeaderParserOptions, type SCGIRequestHead } from './scgi/parser.js';
export { SCGIClient, type SCGIClientOptions, type SCGIRequest, type SCGIResponse } from './scgi/client.js';
export { runCGI, removeRequestProxyVariable, type CGIOptions } from './cgi/run.js';
export { fromNodeHandler, type NodeHandler, type FromNodeHandlerOptions } from './bridges/node.js';
export { fromFetchHandler, toFetchHandler, type FetchHandler, type FromFetchHandlerOptions, type ToFetchHandlerOptions } from './bridges/fetch.js';
export { createFastCGIServer, type FastCGIServerOptions } from './fastcgi/server.js';
export {
  FastCGIClient,
  type FastCGIClientOptions,
  type FastCGIRequest,
  type FastCGIResponse,
  type FastCGITraceRecord,
  type FastCGILoadOptions,
  type FastCGILoadResult,
} from './fastcgi/client.js';
export * as fastcgi from './fastcgi/wire.js';
export { RecordTracer, type TracedRecord, type RecordTracerOptions } from './fastcgi/trace.js';
export { loadApp, type LoadAppOptions, type AppFactory, type FilterFactory, type DeployContext } from './config/deploy.js';
