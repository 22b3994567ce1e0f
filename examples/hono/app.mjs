// An ordinary Hono app (a fetch handler) served by nsgi over FastCGI (or SCGI, HTTP, CGI)
// through fromFetchHandler. Mounted behind nginx at /hono/, the Request URL the app sees is
// the public one (http://host/hono/...), so it routes under basePath('/hono') and its
// redirects and links need no rewriting.
//
//   npm run build
//   npx nsgi serve examples/hono/app.mjs --fastcgi unix:/tmp/nsgi-hono.sock
//
// and the nginx location in examples/hono/README.md.
import { Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { fromFetchHandler } from 'nsgi';

const web = new Hono().basePath('/hono');

web.get('/', (c) =>
  c.html(`<!doctype html>
<title>Hono under nsgi</title>
<h1>Hono under nsgi</h1>
<ul>
  <li><a href="/hono/api/hello?name=nginx">/hono/api/hello?name=nginx</a></li>
  <li><a href="/hono/stream">/hono/stream</a> (a streamed response)</li>
  <li><a href="/hono/old">/hono/old</a> (redirects)</li>
</ul>`),
);

web.get('/api/hello', (c) => {
  setCookie(c, 'visits', String(Number(getCookie(c, 'visits') ?? 0) + 1), { httpOnly: true });
  return c.json({ hello: c.req.query('name') ?? 'world', url: c.req.url });
});

web.post('/api/echo', async (c) => c.json({ received: await c.req.json() }, 201));

web.get('/stream', (c) => {
  let n = 0;
  const body = new ReadableStream({
    async pull(controller) {
      if (n === 5) return controller.close();
      await new Promise((r) => setTimeout(r, 200));
      controller.enqueue(new TextEncoder().encode(`tick ${++n}\n`));
    },
  });
  // nginx buffers FastCGI responses unless told otherwise (see README: fastcgi_buffering off).
  return c.body(body, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Accel-Buffering': 'no' });
});

web.get('/old', (c) => c.redirect('/hono/', 301));

export default fromFetchHandler(web.fetch);
