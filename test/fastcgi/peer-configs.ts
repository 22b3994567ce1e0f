// The web server configs the real-server tests run, in one place so that
// docs/fastcgi.md can show exactly them (test/fastcgi/docs-configs.test.ts
// checks that it does).

/**
 * The nginx `http {}` body the tests run (docs/fastcgi.md shows it): the app
 * is mounted at /app/, nginx splits SCRIPT_NAME (/app) from PATH_INFO with
 * fastcgi_split_path_info, and everything else comes from the stock
 * /etc/nginx/fastcgi_params. `pass` is `unix:/path` or `127.0.0.1:PORT`.
 */
export function nginxConfig(options: { port: number; pass: string; keepConn: boolean }): string {
  const upstream = options.keepConn
    ? `
  upstream nsgi {
    server ${options.pass};
    keepalive 8;
  }`
    : '';
  return `${upstream}
  server {
    listen 127.0.0.1:${options.port};
    client_max_body_size 64m;

    location /app/ {
      fastcgi_split_path_info ^(/app)(/.*)$;
      include /etc/nginx/fastcgi_params;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass ${options.keepConn ? 'nsgi' : options.pass};${options.keepConn ? '\n      fastcgi_keep_conn on;' : ''}
    }
  }`;
}

/**
 * The lighttpd config the tests run (docs/fastcgi.md shows it): the app under
 * /app, spawned by lighttpd from `script` (a #!/bin/sh that execs
 * `nsgi serve app.mjs`); /private/ guarded by an authorizer listening on
 * `authSocket`, serving files from `docroot` when it says 200.
 */
export function lighttpdConfig(dir: string, script: string, authSocket: string): string {
  return `
server.modules += ( "mod_fastcgi" )
fastcgi.debug = 0

fastcgi.server = (
  "/app" => ((
    "socket" => "${dir}/app.sock",
    "bin-path" => "${script}",
    "check-local" => "disable",
    "max-procs" => 1,
    "bin-environment" => ( "GREETING" => "hello from bin-environment" ),
  )),
)

$HTTP["url"] =~ "^/private/" {
  fastcgi.server = (
    "/private/" => ((
      "socket" => "${authSocket}",
      "check-local" => "disable",
      "mode" => "authorizer",
      "docroot" => "${dir}/guarded",
    )),
  )
}
`;
}
