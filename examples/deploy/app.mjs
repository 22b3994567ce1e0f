// The app every deployment recipe serves: a few pages that show what a deployment gets right or
// wrong. It uses no nsgi import at all (a plain function over the environ), so the same file runs
// under every transport, behind every web server, with whatever middleware a recipe stacks on it.
//
//   GET  /               an index whose links are built from SCRIPT_NAME (right at any mount point)
//   GET  /hello?name=... "Hello, <name>!" (UTF-8 query strings survive the trip)
//   GET  /links          the same links as JSON, for tests to follow
//   GET  /env[/...]      the CGI variables this request arrived with, as JSON
//   POST /upload         streams the body through SHA-256 and answers its size and digest
//   anything else        404, with two Set-Cookie headers (both must reach the browser)
//
// Every answer also carries what the app saw and what the web server sent (before any fixer
// middleware rewrote it, as recorded under environ['nsgi.orig']) in X-Nsgi-* headers, so that a
// recipe's table of SCRIPT_NAME/PATH_INFO can be read off any response.
import { createHash } from 'node:crypto';

export default async function* app(environ, startResponse) {
  const script = environ.SCRIPT_NAME;
  const path = environ.PATH_INFO;
  // What the web server sent: the value a fixer middleware replaced (nsgi.orig), else the current one.
  const orig = environ['nsgi.orig'] ?? {};
  const sent = {
    SCRIPT_NAME: 'SCRIPT_NAME' in orig ? (orig.SCRIPT_NAME ?? '') : script,
    PATH_INFO: 'PATH_INFO' in orig ? (orig.PATH_INFO ?? '') : path,
  };
  const seen = [
    ['X-Nsgi-Script-Name', encodeURIComponent(script)],
    ['X-Nsgi-Path-Info', encodeURIComponent(path)],
    ['X-Nsgi-Sent-Script-Name', encodeURIComponent(sent.SCRIPT_NAME)],
    ['X-Nsgi-Sent-Path-Info', encodeURIComponent(sent.PATH_INFO)],
  ];
  const reply = (status, type, body, extra = []) => {
    startResponse(status, [['Content-Type', type], ...seen, ...extra]);
    return body;
  };
  // URL generation: SCRIPT_NAME is where the app is mounted, so every link starts with it.
  const links = {
    home: `${script}/`,
    hello: `${script}/hello?name=${encodeURIComponent('Zoë')}`,
    env: `${script}/env/deep/path`,
    upload: `${script}/upload`,
  };

  if (path === '/' || path === '') {
    yield reply('200 OK', 'text/html; charset=utf-8', `<!doctype html>
<meta charset="utf-8">
<title>nsgi deployment demo</title>
<h1>nsgi deployment demo</h1>
<p>Mounted at <code>${escapeHtml(script || '/')}</code>. Every link below is built from SCRIPT_NAME.</p>
<ul>
  <li><a href="${escapeHtml(links.hello)}">${escapeHtml(links.hello)}</a></li>
  <li><a href="${escapeHtml(links.env)}">${escapeHtml(links.env)}</a> (what the web server sent)</li>
  <li><a href="${escapeHtml(script)}/missing">${escapeHtml(script)}/missing</a> (a 404 with two cookies)</li>
</ul>
<form method="post" action="${escapeHtml(links.upload)}" enctype="multipart/form-data">
  <input type="file" name="file"> <button>upload (answers the SHA-256)</button>
</form>
`);
    return;
  }
  if (path === '/hello') {
    const name = new URLSearchParams(environ.QUERY_STRING).get('name') ?? 'world';
    yield reply('200 OK', 'text/plain; charset=utf-8', `Hello, ${name}!\n`);
    return;
  }
  if (path === '/links') {
    yield reply('200 OK', 'application/json', JSON.stringify(links));
    return;
  }
  if (path === '/env' || path.startsWith('/env/')) {
    const vars = {};
    for (const key of ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'HTTP_HOST', 'REMOTE_ADDR', 'HTTPS', 'wsgi.url_scheme', 'GREETING']) {
      if (environ[key] !== undefined) vars[key] = environ[key];
    }
    vars.sent = sent;
    vars.query = Object.fromEntries(new URLSearchParams(environ.QUERY_STRING));
    yield reply('200 OK', 'application/json; charset=utf-8', JSON.stringify(vars));
    return;
  }
  if (path === '/upload' && environ.REQUEST_METHOD === 'POST') {
    // Streamed: a 5 MiB upload never sits in memory, and the web server is paced by our reading.
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of environ['wsgi.input']) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    yield reply('200 OK', 'application/json', JSON.stringify({ bytes, sha256: hash.digest('hex') }));
    return;
  }
  yield reply('404 Not Found', 'text/plain; charset=utf-8', `Not found: ${script}${path}\n`, [
    ['Set-Cookie', 'first=1; Path=/'],
    ['Set-Cookie', 'second=2; Path=/; HttpOnly'],
  ]);
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
