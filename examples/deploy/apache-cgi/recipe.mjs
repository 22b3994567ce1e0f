// How examples/deploy/run.mjs and test/deploy start this recipe: no backend to start, Apache's
// mod_cgi runs htdocs/app/dispatch.cgi for every request.
export default {
  title: 'Apache: mod_cgi runs dispatch.cgi per request (debugging), mounted at /app',
  server: 'apache',
  config: 'apache.conf',
  modules: ['cgi', 'rewrite'],
  templates: ['htdocs/app/.htaccess', 'htdocs/app/dispatch.cgi'],
  mount: '/app',
  static: '/static/hello.txt',
};
