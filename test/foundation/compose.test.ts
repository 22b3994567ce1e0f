// compose(a, b, c)(app) === a(b(c(app))): the first listed is outermost (design.md).
import { describe, expect, it } from 'vitest';
import { compose, type App, type Middleware } from '../../src/index.js';
import { TestClient } from '../../src/testing/index.js';

const tag = (name: string, log: string[]): Middleware => (app) => (environ, start) => {
  log.push(`enter ${name}`);
  environ[`seen.${name}`] = true;
  return app(environ, start);
};
const app: App = (_e, start) => (start('200 OK', []), ['ok']);

describe('compose', () => {
  it('runs the first middleware listed first (outermost)', async () => {
    const log: string[] = [];
    await new TestClient(compose(tag('a', log), tag('b', log), tag('c', log))(app)).get('/');
    expect(log).toEqual(['enter a', 'enter b', 'enter c']);
  });

  it('equals nesting by hand', async () => {
    const log1: string[] = [];
    const log2: string[] = [];
    await new TestClient(compose(tag('a', log1), tag('b', log1))(app)).get('/');
    await new TestClient(tag('a', log2)(tag('b', log2)(app))).get('/');
    expect(log1).toEqual(log2);
  });

  it('with no middleware returns the app itself', () => {
    expect(compose()(app)).toBe(app);
  });

  it('accepts a list built at run time', async () => {
    const log: string[] = [];
    await new TestClient(compose([tag('x', log), tag('y', log)] as unknown as Middleware)(app)).get('/');
    expect(log).toEqual(['enter x', 'enter y']);
  });

  it.each([
    [[undefined], /middleware #0 must be a function.*got undefined/],
    [[tag('a', []), 'prefix'], /middleware #1 must be a function.*got the string "prefix"/],
    [[{}], /middleware #0 must be a function.*got an object/],
  ])('throws a TypeError naming the bad entry: %j', (list, message) => {
    expect(() => compose(...(list as Middleware[]))).toThrow(TypeError);
    expect(() => compose(...(list as Middleware[]))).toThrow(message);
  });

  it('throws when given something that is not an app, or a middleware returns a non-app', () => {
    expect(() => compose(tag('a', []))(42 as unknown as App)).toThrow(/the app must be a function.*got number 42/);
    expect(() => compose((() => 'nope') as unknown as Middleware)(app)).toThrow(/middleware #0 returned the string "nope" instead of an app/);
  });
});
