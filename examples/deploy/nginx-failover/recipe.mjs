// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'nginx: two FastCGI backends, a GET survives losing one',
  server: 'nginx',
  config: 'nginx.conf',
  ports: ['BACKEND_PORT'],
  backends: [
    { command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi 127.0.0.2:{{BACKEND_PORT}}', listen: '127.0.0.2:{{BACKEND_PORT}}' },
    { command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi 127.0.0.3:{{BACKEND_PORT}}', listen: '127.0.0.3:{{BACKEND_PORT}}' },
  ],
  mount: '',
  static: '/static/hello.txt',
};
