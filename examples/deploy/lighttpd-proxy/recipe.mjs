// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: "lighttpd: mod_proxy to nsgi's HTTP transport, mounted at /app (PrefixMiddleware, ProxyFix)",
  server: 'lighttpd',
  config: 'lighttpd.conf',
  ports: ['BACKEND_PORT'],
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --http 127.0.0.1:{{BACKEND_PORT}}', listen: '127.0.0.1:{{BACKEND_PORT}}' }],
  mount: '/app',
  static: '/static/hello.txt',
};
