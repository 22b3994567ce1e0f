// How examples/deploy/run.mjs and test/deploy start this recipe. No backends: lighttpd starts
// nsgi itself from app.fcgi (rendered into the run folder).
export default {
  title: 'lighttpd: FastCGI, nsgi spawned by bin-path (max-procs 2, bin-environment), mounted at /app',
  server: 'lighttpd',
  config: 'lighttpd.conf',
  templates: ['app.fcgi'],
  mount: '/app',
  static: '/static/hello.txt',
};
