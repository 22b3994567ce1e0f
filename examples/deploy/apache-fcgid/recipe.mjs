// How examples/deploy/run.mjs and test/deploy start this recipe: no backend to start, Apache's
// mod_fcgid runs htdocs/dispatch.fcgi on the first request.
export default {
  title: 'Apache: mod_fcgid runs dispatch.fcgi, .htaccess + mod_rewrite hide it, mounted at /',
  server: 'apache',
  config: 'apache.conf',
  modules: ['fcgid', 'rewrite'],
  templates: ['htdocs/.htaccess', 'htdocs/dispatch.fcgi'],
  mount: '',
  static: '/static/hello.txt',
};
