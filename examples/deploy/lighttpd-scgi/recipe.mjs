// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'lighttpd: SCGI on TCP (mod_scgi), mounted at /app',
  server: 'lighttpd',
  config: 'lighttpd.conf',
  ports: ['BACKEND_PORT'],
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --scgi 127.0.0.1:{{BACKEND_PORT}}', listen: '127.0.0.1:{{BACKEND_PORT}}' }],
  mount: '/app',
  static: '/static/hello.txt',
};
