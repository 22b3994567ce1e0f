// Two small filters for the bin-path recipe (production.ini uses them as file:./worker.mjs#NAME).
// A filter's export is a factory (options, context) => middleware, as PasteDeploy's.

/**
 * Copies process environment variables (lighttpd's "bin-environment") into the environ of
 * every request, unless the request already has them: `names = GREETING OTHER`.
 */
export function processEnv(options) {
  const names = (options.names ?? '').split(/[\s,]+/).filter(Boolean);
  return (app) => (environ, startResponse) => {
    for (const name of names) if (environ[name] === undefined && process.env[name] !== undefined) environ[name] = process.env[name];
    return app(environ, startResponse);
  };
}

/** Adds `X-Worker-Pid: <pid>` to every response: which nsgi process answered. */
export function workerPid() {
  return (app) => (environ, startResponse) =>
    app(environ, (status, headers, excInfo) => startResponse(status, [...headers, ['X-Worker-Pid', String(process.pid)]], excInfo));
}
