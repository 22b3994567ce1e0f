// validate(): the lint middleware catches each broken rule of the contract with NSGI_ERR_LINT,
// on the app's side and on the environ's side (cf. wsgiref.validate, werkzeug LintMiddleware).
import { describe, expect, it } from 'vitest';
import { compose, validate, type App, type Body, type Environ } from '../../src/index.js';
import { createEnviron, runInMemory, TestClient } from '../../src/testing/index.js';

// The app's own failures surface as a 500 with the lint message on wsgi.errors.
async function lintOf(app: App, path = '/'): Promise<string> {
  const res = await new TestClient(validate()(app)).get(path);
  return res.errors;
}

describe('validate() on the app side', () => {
  const cases: Array<[string, App, string]> = [
    ['a status without reason', (_e, s) => (s('200', []), []), 'status "200"'],
    ['a status that is not a string', (_e, s) => (s(200 as unknown as string, []), []), 'status must be a string'],
    ['headers that are not pairs', (_e, s) => (s('200 OK', [['X-A'] as unknown as [string, string]]), []), 'each header must be a [name, value] pair'],
    ['a header value that is a number', (_e, s) => (s('200 OK', [['X-A', 1 as unknown as string]]), []), 'must be strings'],
    ['a Status header', (_e, s) => (s('200 OK', [['Status', '200 OK']]), []), '"Status" must not be a header'],
    ['startResponse twice', (_e, s) => (s('200 OK', []), s('200 OK', []), []), 'second time without excInfo'],
    ['a bare string body', (_e, s) => (s('200 OK', []), 'text' as unknown as Body), 'returned a string'],
    ['a bare Buffer body', (_e, s) => (s('200 OK', []), Buffer.from('x') as unknown as Body), 'bare Uint8Array'],
    ['a number chunk', (_e, s) => (s('200 OK', []), [5 as unknown as string]), 'body chunks must be strings or Uint8Array'],
    ['no startResponse at all', () => [], 'startResponse was never called'],
    ['bytes before startResponse', () => ['x'], 'before startResponse'],
    ['a body on 204', (_e, s) => (s('204 No Content', []), ['x']), 'must not have a body'],
    ['a wrong Content-Length', (_e, s) => (s('200 OK', [['Content-Length', '10']]), ['short']), 'Content-Length says 10 but the body had 5'],
  ];
  it.each(cases)('catches %s', async (_what, app, message) => {
    const errors = await lintOf(app);
    expect(errors).toContain('NSGI_ERR_LINT');
    expect(errors).toContain(message);
  });

  it('catches write() after the body ended', async () => {
    let write: ((c: string) => void) | undefined;
    const app: App = (_e, s) => {
      write = s('200 OK', []);
      return ['done'];
    };
    await new TestClient(validate()(app)).get('/');
    expect(() => write!('late')).toThrow(expect.objectContaining({ code: 'NSGI_ERR_LINT' }));
  });

  it('lets a correct app through unchanged, and reaches its iterator return()', async () => {
    let closed = false;
    const app: App = (_e, s) => {
      s('200 OK', [['Content-Length', '5']]);
      return (function* () {
        try {
          yield 'hel';
          yield 'lo';
        } finally {
          closed = true;
        }
      })();
    };
    const res = await new TestClient(compose(validate(), validate())(app)).get('/');
    expect([res.status, res.text, res.errors, closed]).toEqual([200, 'hello', '', true]);
  });
});

describe('validate() on the environ side', () => {
  const ok: App = (_e, s) => (s('200 OK', []), []);
  const cases: Array<[string, Partial<Record<string, unknown>>, string]> = [
    ['SCRIPT_NAME "/" alone', { SCRIPT_NAME: '/' }, 'must not be "/" alone'],
    ['SCRIPT_NAME without a leading slash', { SCRIPT_NAME: 'app' }, 'SCRIPT_NAME "app" must be empty or start with "/"'],
    ['PATH_INFO without a leading slash', { PATH_INFO: 'x' }, 'PATH_INFO "x"'],
    ['a non-numeric CONTENT_LENGTH', { CONTENT_LENGTH: '12a' }, 'CONTENT_LENGTH "12a"'],
    ['a CGI variable that is not a string', { SERVER_PORT: 80 }, 'SERVER_PORT must be a string'],
    ['a bad url scheme', { 'wsgi.url_scheme': 'ftp' }, 'wsgi.url_scheme'],
    ['a missing signal', { 'nsgi.signal': undefined }, 'nsgi.signal must be an AbortSignal'],
  ];
  it.each(cases)('catches %s', async (_what, patch, message) => {
    const environ: Environ = Object.assign(createEnviron(), patch);
    await expect(Promise.resolve(validate()(ok)(environ, () => () => {}))).rejects.toThrow(message);
  });

  it('accepts what createEnviron builds', async () => {
    const res = await runInMemory(validate()(ok), createEnviron({ method: 'post', path: '/a%20b?x=1', body: 'hi', headers: { 'Content-Type': 'text/plain' } }));
    expect(res.status).toBe(200);
  });
});
