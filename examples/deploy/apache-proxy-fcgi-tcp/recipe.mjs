// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'Apache: mod_proxy_fcgi to nsgi over TCP, mounted at /app',
  server: 'apache',
  config: 'apache.conf',
  modules: ['proxy', 'proxy_fcgi', 'setenvif'],
  ports: ['BACKEND_PORT'],
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi 127.0.0.1:{{BACKEND_PORT}}', listen: '127.0.0.1:{{BACKEND_PORT}}' }],
  mount: '/app',
  static: '/static/hello.txt',
};
