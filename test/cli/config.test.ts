// PasteDeploy-style config files: the INI dialect (byte-exact tables), the pipelines loadApp()
// builds from them, the errors that name file, line and key, and `nsgi serve config:...` end to
// end over HTTP and FastCGI.
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getValue, parseIni } from '../../src/config/ini.js';
import { loadApp, readConfig, readServerSection } from '../../src/config/deploy.js';
import { FastCGIClient } from '../../src/fastcgi/client.js';
import { TestClient } from '../../src/testing/index.js';
import type { App } from '../../src/types.js';
import { ROOT, runNsgi } from '../helpers/cli.js';
import { freePort, makeTempDir, removeTempDir } from '../helpers/peers.js';
import { get, killAll, startedPids, startNsgi, waitServing } from './serve-helpers.js';

let dir: string;
beforeAll(() => {
  dir = makeTempDir('nsgi-config-');
  // An app that shows what the filters around it did, and a filter factory that tags requests.
  writeFileSync(
    join(dir, 'app.mjs'),
    `export default function app(environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [JSON.stringify({ tags: environ['test.tags'] ?? [], script: environ.SCRIPT_NAME, path: environ.PATH_INFO, pid: process.pid })];
}
export function makeApp(options, context) {
  return (environ, startResponse) => {
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [JSON.stringify({ options, name: context.name, here: context.here, global: context.globalConf })];
  };
}
export const notAnApp = 42;
`,
  );
  writeFileSync(
    join(dir, 'mw.mjs'),
    `export function tag(options) {
  return (app) => (environ, startResponse) => {
    environ['test.tags'] = [...(environ['test.tags'] ?? []), options.tag];
    return app(environ, startResponse);
  };
}
`,
  );
});
afterEach(() => killAll());
afterAll(() => removeTempDir(dir));

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function json(app: App, path = '/x'): Promise<Record<string, unknown>> {
  const res = await new TestClient(app).get(path);
  expect(res.status).toBe(200);
  return JSON.parse(res.text) as Record<string, unknown>;
}

describe('the INI dialect (Python ConfigParser, as PasteDeploy uses it)', () => {
  const text = [
    '# a comment',
    '; another',
    '[DEFAULT]',
    'root = /srv/%(name)s',
    'name = blog',
    '',
    '[app:main]',
    'use = file:./app.mjs#makeApp',
    'Greeting: Hello, World',
    'url = http://x/#frag ; not a comment',
    'pipeline =',
    '    first',
    '    second',
    'static = %(root)s/public',
    'here_dir = %(here)s',
    'percent = 100%%',
  ].join('\n');
  const ini = parseIni(text, 'prod.ini');
  const section = ini.sections.get('app:main')!;
  it.each([
    ['use', 'file:./app.mjs#makeApp'],
    ['Greeting', 'Hello, World'], // `:` splits too; case is kept
    ['url', 'http://x/#frag ; not a comment'], // no inline comments
    ['pipeline', 'first\nsecond'], // continuation lines
    ['static', '/srv/blog/public'], // [DEFAULT] keys interpolate, recursively
    ['here_dir', '/etc/app'],
    ['percent', '100%'],
    ['name', 'blog'], // [DEFAULT] keys are seen from every section
  ])('reads %s', (key, value) => {
    expect(getValue(ini, section, key, { here: '/etc/app' })).toBe(value);
  });
  it('keeps the line of each key', () => {
    expect(section.line).toBe(7);
    expect(section.entries.get('static')!.line).toBe(14);
  });

  it.each([
    ['key = value\n[app:main]\n', 'prod.ini:1: key "key" comes before any [section]'],
    ['[app:main]\nuse = x\n[app:main]\n', 'prod.ini:3: section [app:main] is repeated (first at line 1)'],
    ['[app:main]\nuse = x\nuse = y\n', 'prod.ini:3: [app:main] key "use" is repeated (first at line 2)'],
    ['[app:main]\njust words\n', 'prod.ini:2: expected "key = value"'],
    ['[app:main\n', 'prod.ini:1: bad section header'],
    ['[app:main]\n= value\n', 'prod.ini:2: expected "key = value"'],
  ])('rejects %j naming the line', (bad, message) => {
    expect(() => parseIni(bad, 'prod.ini')).toThrow(message);
    try {
      parseIni(bad, 'prod.ini');
    } catch (err) {
      expect((err as { code: string }).code).toBe('NSGI_ERR_CONFIG_SYNTAX');
    }
  });

  it.each([
    ['[app:main]\nx = %(nope)s\n', 'prod.ini:2: [app:main] x: %(nope)s names no key of [app:main] or [DEFAULT] nor here'],
    ['[app:main]\nx = 5%\n', 'prod.ini:2: [app:main] x: stray "%"'],
    ['[app:main]\na = %(b)s\nb = %(a)s\n', 'nested more than 10 deep'],
  ])('rejects the interpolation in %j naming file, line and key', (bad, message) => {
    const broken = parseIni(bad, 'prod.ini');
    const s = broken.sections.get('app:main')!;
    expect(() => getValue(broken, s, s.entries.keys().next().value!, { here: '/x' })).toThrow(message);
  });
});

describe('loadApp(config:...)', () => {
  it('builds a pipeline with filter-with chains, outermost first', async () => {
    const file = writeConfig(
      'pipeline.ini',
      `[pipeline:main]
pipeline = outer
    inner
    app

[filter:outer]
use = file:./mw.mjs#tag
tag = outer
filter-with = outermost

[filter:outermost]
use = file:%(here)s/mw.mjs#tag
tag = outermost

[filter:inner]
use = file:./mw.mjs#tag
tag = inner

[app:app]
use = file:./app.mjs
filter-with = prefix

[filter:prefix]
use = egg:PasteDeploy#prefix
prefix = /james
`,
    );
    const app = await loadApp(`config:${file}`);
    expect(await json(app, '/james/page')).toMatchObject({ tags: ['outermost', 'outer', 'inner'], script: '/james', path: '/page' });
  });

  it('calls a factory with its options and context, and picks a named app with #NAME', async () => {
    const file = writeConfig(
      'factory.ini',
      `[DEFAULT]
site = example

[app:other]
use = file:./app.mjs#makeApp
factory = true
title = %(site)s blog
`,
    );
    const app = await loadApp(`config:${file}#other`);
    expect(await json(app)).toEqual({ options: { title: 'example blog' }, name: 'other', here: dir, global: { site: 'example' } });
  });

  it.each([
    ['[app:main]\nuse = file:./app.mjs\ntitle = x\n', ':3: [app:main] title: options are only for a factory'],
    ['[app:main]\nuse = file:./missing.mjs\n', ':2: [app:main] use: no file'],
    ['[app:main]\nuse = file:./app.mjs#nope\n', ':2: [app:main] use: ./app.mjs has no export "nope"'],
    ['[app:main]\nuse = file:./app.mjs#notAnApp\n', ':2: [app:main] use: must name an app'],
    ['[app:main]\nuse = egg:Something#x\n', ':2: [app:main] use: "egg:Something#x" is not file:PATH'],
    ['[app:main]\nuse = file:./app.mjs\nfilter-with = nope\n', ':3: [app:main] filter-with: no section [filter:nope]'],
    ['[app:main]\nuse = file:./app.mjs\nfilter-with = f\n[filter:f]\nuse = nsgi#nope\n', ':5: [filter:f] use: no built-in middleware "nope"'],
    ['[app:main]\nuse = file:./app.mjs\nfilter-with = f\n[filter:f]\nuse = nsgi#prefix\nprefx = /\n', ':5: [filter:f] use: prefix: unknown option "prefx"'],
    ['[pipeline:main]\npipeline = a main\n[filter:a]\nuse = file:./mw.mjs#tag\n', ':2: [pipeline:main] pipeline: loops back on itself'],
    ['[app:other]\nuse = file:./app.mjs\n', ': no section [app:main] or [pipeline:main] or [filter-app:main]'],
    ['[app:main]\nuse = file:./app.mjs\nfactory = maybe\n', ':3: [app:main] factory: must be true or false'],
  ])('names file, line and key for %j', async (text, message) => {
    const file = writeConfig('broken.ini', text);
    const failure = loadApp(`config:${file}`);
    await expect(failure).rejects.toThrow(`config: ${file}${message}`);
    await expect(failure).rejects.toMatchObject({ code: 'NSGI_ERR_CONFIG_FILE' });
  });
});

describe('the production.ini of docs/serve.md', () => {
  it('loads as documented: the prefix filter around the app, and the server settings', async () => {
    const doc = readFileSync(join(ROOT, 'docs/serve.md'), 'utf8');
    const sample = /## Config files[\s\S]*?```ini\n([\s\S]*?)```/.exec(doc)![1]!;
    const sub = join(dir, 'docs-sample');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'app.mjs'), readFileSync(join(dir, 'app.mjs')));
    const file = join(sub, 'production.ini');
    writeFileSync(file, sample);
    const app = await loadApp(`config:${file}`);
    expect(await json(app, '/blog/post')).toMatchObject({ script: '/blog', path: '/post' });
    const server = readServerSection(readConfig(file))!;
    expect(server.transport).toBe('fastcgi');
    expect(Object.fromEntries([...server.settings].map(([k, v]) => [k, v.value]))).toEqual({
      use: 'nsgi#fastcgi',
      bind: `unix:${sub}/app.sock`,
      workers: '4',
      maxRequests: '10000',
      maxRequestsJitter: '1000',
      accessLog: '/var/log/blog/access.log',
    });
  });
});

describe('nsgi serve config:FILE', () => {
  it('serves the pipeline with the transport, address and workers of [server:main]', async () => {
    const port = await freePort();
    const file = writeConfig(
      'http.ini',
      `[DEFAULT]
port = ${port}

[app:main]
use = file:./app.mjs
filter-with = tagger

[filter:tagger]
use = file:./mw.mjs#tag
tag = from-config

[server:main]
use = nsgi#http
bind = 127.0.0.1:%(port)s
workers = 2
keep_alive_timeout = 1000
`,
    );
    const master = startNsgi(['serve', `config:${file}`]);
    await waitServing(master);
    expect(master.output()).toContain(`over http on http://127.0.0.1:${port}/`);
    expect(startedPids(master)).toHaveLength(2);
    const reply = await get(port, '/hello');
    expect(JSON.parse(reply.body)).toMatchObject({ tags: ['from-config'], path: '/hello' });
  });

  it('serves FastCGI on a unix socket in the file\'s folder, with a flag overriding workers', async () => {
    const sub = join(dir, 'fcgi');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'app.mjs'), `export default (environ, startResponse) => { startResponse('200 OK', [['Content-Type', 'text/plain']]); return [environ.SCRIPT_NAME + '|' + environ.PATH_INFO + '|' + environ['wsgi.multiprocess']]; };\n`);
    const file = join(sub, 'production.ini');
    writeFileSync(
      file,
      `[app:main]
use = file:./app.mjs
filter-with = proxy-prefix

[filter:proxy-prefix]
use = nsgi#prefix
prefix = /blog

[server:main]
use = nsgi#fastcgi
bind = unix:%(here)s/app.sock
workers = 3
`,
    );
    const master = startNsgi(['serve', `config:${file}`, '--workers', '2']);
    await waitServing(master);
    expect(master.output()).toContain(`over fastcgi on unix:${sub}/app.sock`);
    expect(startedPids(master)).toHaveLength(2);
    const client = new FastCGIClient(`unix:${sub}/app.sock`);
    const res = await client.request({ path: '/blog/post/1' });
    expect([res.status, res.body.toString()]).toEqual([200, '/blog|/post/1|true']);
    master.kill('SIGTERM');
    const [code] = await once(master, 'exit');
    expect(code).toBe(0);
  });

  it.each([
    ['[app:main]\nuse = file:./app.mjs\n\n[server:main]\nuse = nsgi#http\nworkers = many\n', ':6: [server:main] workers: the number of workers must be a whole number'],
    ['[app:main]\nuse = file:./app.mjs\n\n[server:main]\nuse = nsgi#gopher\n', ':5: [server:main] use: the gopher transport is not available'],
    ['[app:main]\nuse = file:./app.mjs\n\n[server:main]\nuse = nsgi#http\nbind = nowhere\n', ':6: [server:main] bind: address: "nowhere" has no port'],
    ['[app:main]\nuse = file:./app.mjs\nextra\n', ':3: expected "key = value"'],
    ['[app:main]\nuse = file:./nope.mjs\n\n[server:main]\nuse = nsgi#http\nbind = 127.0.0.1:0\n', ':2: [app:main] use: no file'],
  ])('exits 2 naming the line for %j', async (text, message) => {
    const file = writeConfig('bad-serve.ini', text);
    const { code, stderr } = await runNsgi(['serve', `config:${file}`]);
    expect(stderr).toContain(`${file}${message}`);
    expect(code).toBe(2);
  });
});
