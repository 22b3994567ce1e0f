// How examples/deploy/run.mjs and test/deploy start this recipe. Apache's children run as
// nobody here, in no group nsgi's socket has: --socket-mode 666 lets them connect.
export default {
  title: 'Apache: mod_proxy_fcgi to nsgi on a unix socket, mounted at /app',
  server: 'apache',
  config: 'apache.conf',
  modules: ['proxy', 'proxy_fcgi'],
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi unix:{{RUN}}/app.sock --socket-mode 666', listen: 'unix:{{RUN}}/app.sock' }],
  mount: '/app',
  static: '/static/hello.txt',
};
