// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'lighttpd: every URL rewritten to /app.fcgi (FastCGI, unix socket), the app at / with PrefixMiddleware',
  server: 'lighttpd',
  config: 'lighttpd.conf',
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi unix:{{RUN}}/app.sock', listen: 'unix:{{RUN}}/app.sock' }],
  mount: '',
  static: '/static/hello.txt',
};
