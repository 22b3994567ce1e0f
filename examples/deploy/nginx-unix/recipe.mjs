// How examples/deploy/run.mjs and test/deploy start this recipe.
export default {
  title: 'nginx: FastCGI on a unix socket, keep-alive, mounted at /',
  server: 'nginx',
  config: 'nginx.conf',
  backends: [{ command: '{{NSGI}} serve config:{{HERE}}/production.ini --fastcgi unix:{{RUN}}/app.sock', listen: 'unix:{{RUN}}/app.sock' }],
  mount: '',
  static: '/static/hello.txt',
};
