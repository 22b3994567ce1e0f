// How examples/deploy/run.mjs and test/deploy start this recipe. spawn-fcgi binds the socket,
// then (-n: no fork) replaces itself with nsgi, which finds the socket on fd 0. `exec` makes the
// shell spawn-fcgi too, so the process stopped at Ctrl-C is nsgi's master and it stops gracefully.
export default {
  title: 'spawn-fcgi: spawn-fcgi binds a unix socket and starts nsgi on it, for nginx',
  server: 'nginx',
  config: 'nginx.conf',
  backends: [{ command: 'exec spawn-fcgi -n -s {{RUN}}/app.sock -M 0660 -- {{NSGI}} serve config:{{HERE}}/production.ini', listen: 'unix:{{RUN}}/app.sock' }],
  mount: '',
  static: '/static/hello.txt',
};
