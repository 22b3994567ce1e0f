// ProxyFix: werkzeug's documented behaviour (n-th value from the right, ignore a header with
// fewer than n values, a count of 0 ignores it) and RFC 7239 Forwarded when asked to.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseForwarded } from '../../src/middleware/forwarded.js';
import { ProxyFix, type ProxyFixOptions } from '../../src/middleware/proxy-fix.js';
import type { EnvironOptions } from '../../src/testing/environ.js';
import { seen, type Echo } from './helpers.js';

interface Case {
  name: string;
  options: ProxyFixOptions;
  request: EnvironOptions;
  expect: Echo;
}

const H = (headers: Record<string, string>): EnvironOptions => ({ headers: { Host: 'backend:8000', ...headers }, remoteAddr: '10.0.0.9' });

const cases: Case[] = [
  // werkzeug's test_proxy_fix table, in spirit: defaults x_for=1, x_proto=1.
  { name: 'defaults trust one X-Forwarded-For and -Proto', options: {}, request: H({ 'X-Forwarded-For': '192.168.0.2', 'X-Forwarded-Proto': 'https' }), expect: { REMOTE_ADDR: '192.168.0.2', 'wsgi.url_scheme': 'https', HTTPS: 'on', HTTP_HOST: 'backend:8000' } },
  { name: 'takes the value one hop from the right with xFor 1', options: {}, request: H({ 'X-Forwarded-For': '192.168.0.1, 192.168.0.2' }), expect: { REMOTE_ADDR: '192.168.0.2' } },
  { name: 'takes the second from the right with xFor 2 (a spoofed left value is skipped)', options: { xFor: 2 }, request: H({ 'X-Forwarded-For': '6.6.6.6, 192.168.0.1, 192.168.0.2' }), expect: { REMOTE_ADDR: '192.168.0.1' } },
  { name: 'ignores a header with fewer values than trusted hops', options: { xFor: 2 }, request: H({ 'X-Forwarded-For': '192.168.0.2' }), expect: { REMOTE_ADDR: '10.0.0.9' } },
  { name: 'ignores a header with a count of 0', options: { xFor: 0, xProto: 0 }, request: H({ 'X-Forwarded-For': '192.168.0.2', 'X-Forwarded-Proto': 'https' }), expect: { REMOTE_ADDR: '10.0.0.9', 'wsgi.url_scheme': 'http' } },
  { name: 'ignores X-Forwarded-Host by default (xHost 0)', options: {}, request: H({ 'X-Forwarded-Host': 'example.com' }), expect: { HTTP_HOST: 'backend:8000' } },
  { name: 'sets HTTP_HOST from X-Forwarded-Host with xHost 1, leaving SERVER_NAME/PORT', options: { xHost: 1 }, request: H({ 'X-Forwarded-Host': 'spoof.example, example.com' }), expect: { HTTP_HOST: 'example.com', SERVER_NAME: 'backend', SERVER_PORT: '80' } },
  { name: 'sets the port in HTTP_HOST from X-Forwarded-Port', options: { xPort: 1 }, request: H({ 'X-Forwarded-Port': '8443' }), expect: { HTTP_HOST: 'backend:8443' } },
  { name: 'combines forwarded host and port', options: { xHost: 1, xPort: 1 }, request: H({ 'X-Forwarded-Host': 'example.com:80', 'X-Forwarded-Port': '443' }), expect: { HTTP_HOST: 'example.com:443' } },
  { name: 'keeps IPv6 brackets when replacing the port', options: { xHost: 1, xPort: 1 }, request: H({ 'X-Forwarded-Host': '[::1]:80', 'X-Forwarded-Port': '8080' }), expect: { HTTP_HOST: '[::1]:8080' } },
  { name: 'sets SCRIPT_NAME from X-Forwarded-Prefix', options: { xPrefix: 1 }, request: H({ 'X-Forwarded-Prefix': '/api/' }), expect: { SCRIPT_NAME: '/api' } },
  { name: 'decodes X-Forwarded-Prefix like a path', options: { xPrefix: 1 }, request: H({ 'X-Forwarded-Prefix': '/snow%20man' }), expect: { SCRIPT_NAME: '/snow man' } },
  { name: 'turns X-Forwarded-Prefix "/" into an empty SCRIPT_NAME, never "/"', options: { xPrefix: 1 }, request: { ...H({ 'X-Forwarded-Prefix': '/' }), scriptName: '/old' }, expect: { SCRIPT_NAME: '' } },
  { name: 'ignores a non-numeric X-Forwarded-Port', options: { xPort: 1 }, request: H({ 'X-Forwarded-Port': '80; evil' }), expect: { HTTP_HOST: 'backend:8000' } },
  { name: 'ignores a relative X-Forwarded-Prefix', options: { xPrefix: 1 }, request: { ...H({ 'X-Forwarded-Prefix': 'api' }), scriptName: '/old' }, expect: { SCRIPT_NAME: '/old' } },
  { name: 'ignores a proto other than http/https', options: {}, request: H({ 'X-Forwarded-Proto': 'javascript' }), expect: { 'wsgi.url_scheme': 'http' } },
  { name: 'ignores a host with a slash', options: { xHost: 1 }, request: H({ 'X-Forwarded-Host': 'evil.example/x' }), expect: { HTTP_HOST: 'backend:8000' } },
  { name: 'proto http over an https gateway removes HTTPS', options: {}, request: { ...H({ 'X-Forwarded-Proto': 'http' }), scheme: 'https' }, expect: { 'wsgi.url_scheme': 'http', HTTPS: undefined } },
  // RFC 7239.
  {
    name: 'reads for/proto/host from Forwarded with forwarded: true',
    options: { forwarded: true, xHost: 1 },
    request: H({ Forwarded: 'for=192.0.2.60;proto=https;host=example.com;by=203.0.113.43', 'X-Forwarded-For': '6.6.6.6' }),
    expect: { REMOTE_ADDR: '192.0.2.60', 'wsgi.url_scheme': 'https', HTTP_HOST: 'example.com' },
  },
  { name: 'counts Forwarded elements from the right', options: { forwarded: true, xFor: 2 }, request: H({ Forwarded: 'for=6.6.6.6, for=198.51.100.17, for=192.0.2.43' }), expect: { REMOTE_ADDR: '198.51.100.17' } },
  { name: 'ignores Forwarded with fewer elements than trusted hops', options: { forwarded: true, xFor: 2 }, request: H({ Forwarded: 'for=192.0.2.43' }), expect: { REMOTE_ADDR: '10.0.0.9' } },
  { name: 'unquotes and unbrackets an IPv6 node with a port', options: { forwarded: true }, request: H({ Forwarded: 'For="[2001:db8:cafe::17]:4711"' }), expect: { REMOTE_ADDR: '2001:db8:cafe::17' } },
  { name: 'strips the port of an IPv4 node', options: { forwarded: true }, request: H({ Forwarded: 'for="192.0.2.43:47011"' }), expect: { REMOTE_ADDR: '192.0.2.43' } },
  { name: 'ignores the X-Forwarded-* triple in Forwarded mode', options: { forwarded: true }, request: H({ 'X-Forwarded-For': '192.168.0.2', 'X-Forwarded-Proto': 'https' }), expect: { REMOTE_ADDR: '10.0.0.9', 'wsgi.url_scheme': 'http' } },
  { name: 'ignores a Forwarded header that does not parse', options: { forwarded: true }, request: H({ Forwarded: 'for=192.0.2.1;for=6.6.6.6' }), expect: { REMOTE_ADDR: '10.0.0.9' } },
  { name: 'ignores Forwarded unless asked to', options: {}, request: H({ Forwarded: 'for=192.0.2.60' }), expect: { REMOTE_ADDR: '10.0.0.9' } },
  { name: 'still reads X-Forwarded-Prefix in Forwarded mode', options: { forwarded: true, xPrefix: 1 }, request: H({ Forwarded: 'for=192.0.2.60', 'X-Forwarded-Prefix': '/app' }), expect: { REMOTE_ADDR: '192.0.2.60', SCRIPT_NAME: '/app' } },
];

describe('ProxyFix', () => {
  it.each(cases)('$name', async ({ options, request, expect: expected }) => {
    const got = await seen(ProxyFix(options), request);
    for (const [key, value] of Object.entries(expected)) expect(got[key as keyof Echo], key).toEqual(value);
  });

  it('keeps the replaced values under nsgi.orig', async () => {
    const got = await seen(ProxyFix({ xHost: 1, xPrefix: 1 }), { ...H({ 'X-Forwarded-For': '192.0.2.1', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com', 'X-Forwarded-Prefix': '/p' }), scriptName: '' });
    expect(got['nsgi.orig']).toEqual({ REMOTE_ADDR: '10.0.0.9', 'wsgi.url_scheme': 'http', HTTPS: undefined, HTTP_HOST: 'backend:8000', SCRIPT_NAME: '' });
  });

  it.each([{ xFor: -1 }, { xProto: 1.5 }, { xHost: Number.NaN }])('refuses the hop count %j', (options) => {
    expect(() => ProxyFix(options)).toThrow(ConfigError);
  });
});

describe('parseForwarded (RFC 7239 §4)', () => {
  it.each<[string, Array<Record<string, string>> | undefined]>([
    ['for=192.0.2.60;proto=http;by=203.0.113.43', [{ for: '192.0.2.60', proto: 'http', by: '203.0.113.43' }]],
    ['for=192.0.2.43, for=198.51.100.17', [{ for: '192.0.2.43' }, { for: '198.51.100.17' }]],
    ['For="[2001:db8:cafe::17]:4711"', [{ for: '[2001:db8:cafe::17]:4711' }]],
    ['for="a,b;c"; proto=https', [{ for: 'a,b;c', proto: 'https' }]],
    ['for="quoted \\"pair\\""', [{ for: 'quoted "pair"' }]],
    ['for=_hidden, for=unknown', [{ for: '_hidden' }, { for: 'unknown' }]],
    [' , for=1.2.3.4 ,, ', [{ for: '1.2.3.4' }]],
    ['for=1.2.3.4;for=5.6.7.8', undefined],
    ['for="unterminated', undefined],
    ['for 1.2.3.4', undefined],
    ['=value', undefined],
    ['for=[::1]', undefined],
  ])('%j', (header, want) => {
    const got = parseForwarded(header);
    expect(got === undefined ? undefined : got.map((e) => ({ ...e }))).toEqual(want);
  });
});
