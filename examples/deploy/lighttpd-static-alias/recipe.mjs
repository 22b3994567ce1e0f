// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'lighttpd: static folders served by nsgi (StaticAlias), the app at / over FastCGI on TCP',
  server: 'lighttpd',
  config: 'lighttpd.conf',
  ports: ['BACKEND_PORT'],
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi 127.0.0.1:{{BACKEND_PORT}}', listen: '127.0.0.1:{{BACKEND_PORT}}' }],
  mount: '',
  static: '/static/hello.txt',
};
