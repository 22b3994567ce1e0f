/**
 * A parser for the RFC 7239 `Forwarded` header, sans I/O:
 * `for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"`.
 * Each comma-separated element is what one proxy appended; each holds
 * `name=value` pairs separated by `;`, a value being a token or a
 * quoted-string (RFC 7230 §3.2.6), which may contain `,` and `;`.
 * @module
 */

/** One proxy's element: parameter names in lower case, values unquoted. */
export type ForwardedElement = Record<string, string>;

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a `Forwarded` header into its elements, left to right. Returns
 * `undefined` when the header does not follow the grammar, so the caller can
 * ignore it as a whole rather than trust a value read out of place.
 */
export function parseForwarded(header: string): ForwardedElement[] | undefined {
  const elements: ForwardedElement[] = [];
  let element: ForwardedElement = Object.create(null) as ForwardedElement;
  let hasPairs = false;
  let i = 0;
  const n = header.length;
  const skipSpace = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  for (;;) {
    skipSpace();
    if (i < n && header[i] !== ',' && header[i] !== ';') {
      const start = i;
      while (i < n && TCHAR.test(header[i]!)) i++;
      if (i === start || header[i] !== '=') return undefined;
      const name = header.slice(start, i).toLowerCase();
      i++;
      let value: string;
      if (header[i] === '"') {
        i++;
        value = '';
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        if (i >= n) return undefined;
        i++;
      } else {
        const vstart = i;
        while (i < n && TCHAR.test(header[i]!)) i++;
        value = header.slice(vstart, i);
      }
      // RFC 7239 §4: a parameter must not occur more than once per element.
      if (Object.prototype.hasOwnProperty.call(element, name)) return undefined;
      element[name] = value;
      hasPairs = true;
      skipSpace();
    }
    if (i >= n) {
      if (hasPairs) elements.push(element);
      return elements;
    }
    if (header[i] === ';') {
      i++;
    } else if (header[i] === ',') {
      // RFC 7230 §7: empty list elements do not count.
      if (hasPairs) elements.push(element);
      element = Object.create(null) as ForwardedElement;
      hasPairs = false;
      i++;
    } else {
      return undefined;
    }
  }
}
