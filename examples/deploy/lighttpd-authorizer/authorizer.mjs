// A FastCGI authorizer (FastCGI 1.0 §6.3) for lighttpd's "mode" => "authorizer": lighttpd sends
// the request's variables (no body) and serves the file itself when the answer is 200. Any other
// answer goes to the client as it is. Served by `nsgi serve authorizer.mjs --fastcgi ...`.
//
// It checks HTTP Basic credentials against a table; a real one would look in a user database or
// check a session cookie. Headers named Variable-NAME in a 200 become variables of the request
// lighttpd goes on to handle (here: AUTH_USER, for a handler that wants to know who it was).
const USERS = new Map([['ada', 'lovelace']]);

export default function authorizer(environ, startResponse) {
  const [scheme, encoded] = (environ.HTTP_AUTHORIZATION ?? '').split(' ');
  if (scheme !== 'Basic' || !encoded) {
    startResponse('401 Unauthorized', [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['WWW-Authenticate', 'Basic realm="private", charset="UTF-8"'],
    ]);
    return ['Log in to see /private/.\n'];
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = decoded.slice(0, colon);
  if (colon === -1 || USERS.get(user) !== decoded.slice(colon + 1)) {
    startResponse('403 Forbidden', [['Content-Type', 'text/plain; charset=utf-8']]);
    return ['Wrong user name or password.\n'];
  }
  startResponse('200 OK', [['Variable-AUTH_USER', user]]);
  return [];
}
