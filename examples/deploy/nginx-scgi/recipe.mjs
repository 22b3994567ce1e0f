// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'nginx: SCGI on TCP, mounted at /',
  server: 'nginx',
  config: 'nginx.conf',
  ports: ['BACKEND_PORT'],
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --scgi 127.0.0.1:{{BACKEND_PORT}}', listen: '127.0.0.1:{{BACKEND_PORT}}' }],
  mount: '',
  static: '/static/hello.txt',
};
