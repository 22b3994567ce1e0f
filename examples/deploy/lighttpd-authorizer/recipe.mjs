// How examples/deploy/run.mjs and test/deploy start this recipe: the demo app and the
// authorizer are two nsgi processes on two unix sockets.
export default {
  title: 'lighttpd: a FastCGI authorizer in nsgi guarding a static folder, the app at /app',
  server: 'lighttpd',
  config: 'lighttpd.conf',
  backends: [
    { command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi unix:{{RUN}}/app.sock', listen: 'unix:{{RUN}}/app.sock' },
    { command: '{{NSGI}} serve {{HERE}}/authorizer.mjs --fastcgi unix:{{RUN}}/auth.sock', listen: 'unix:{{RUN}}/auth.sock' },
  ],
  mount: '/app',
  static: '/static/hello.txt',
};
