// The smallest nsgi app: `nsgi serve examples/hello.mjs` serves it on http://127.0.0.1:8000/
// and the same file runs unchanged under --fastcgi, --scgi or --cgi.
export default function hello(environ, startResponse) {
  const name = new URLSearchParams(environ.QUERY_STRING).get('name') ?? 'world';
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [
    `Hello, ${name}!\n`,
    `You asked for ${environ.SCRIPT_NAME}${environ.PATH_INFO} over ${environ['wsgi.url_scheme']} (${environ.SERVER_PROTOCOL}).\n`,
  ];
}
