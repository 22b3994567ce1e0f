// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'Apache: mod_proxy_http to nsgi over HTTP, published at /app',
  server: 'apache',
  config: 'apache.conf',
  modules: ['proxy', 'proxy_http', 'headers'],
  ports: ['BACKEND_PORT'],
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --http 127.0.0.1:{{BACKEND_PORT}}', listen: '127.0.0.1:{{BACKEND_PORT}}' }],
  mount: '/app',
  static: '/static/hello.txt',
};
