// An ordinary Express 5 app, served by nsgi over FastCGI (or SCGI, HTTP, CGI) through
// fromNodeHandler. Nothing in the routes knows about nsgi: mounted behind nginx at /express/,
// Express sees SCRIPT_NAME as req.baseUrl, so the links it builds carry the prefix.
//
//   npm run build
//   npx nsgi serve examples/express/app.mjs --fastcgi unix:/tmp/nsgi-express.sock
//
// and the nginx location in examples/express/README.md.
import { fileURLToPath } from 'node:url';
import express from 'express';
import { fromNodeHandler } from 'nsgi';

const web = express();
const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

web.get('/', (req, res) => {
  // req.baseUrl is the mount point (SCRIPT_NAME): links stay right under any prefix.
  const base = req.baseUrl;
  res.type('html').send(`<!doctype html>
<title>Express under nsgi</title>
<h1>Express under nsgi</h1>
<ul>
  <li><a href="${base}/api/hello?name=nginx">${base}/api/hello?name=nginx</a></li>
  <li><a href="${base}/static/hello.txt">${base}/static/hello.txt</a> (sendFile, Range works)</li>
  <li><a href="${base}/old">${base}/old</a> (redirects)</li>
</ul>
<form method="post" action="${base}/api/echo"><button>POST form to ${base}/api/echo</button></form>`);
});

web.get('/api/hello', (req, res) => {
  res.cookie('seen', '1', { httpOnly: true });
  res.json({ hello: req.query.name ?? 'world', from: req.ip, protocol: req.protocol, url: req.originalUrl });
});

web.post('/api/echo', express.json(), express.urlencoded({ extended: false }), (req, res) => {
  res.status(201).json({ received: req.body ?? null });
});

web.get('/old', (req, res) => res.redirect(301, `${req.baseUrl}/`));

web.use('/static', express.static(publicDir));

export default fromNodeHandler(web);
