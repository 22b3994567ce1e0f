/**
 * A sans-I/O decoder of HTTP/1.1 chunked transfer coding (RFC 9112 §7.1).
 *
 * Needed only when a `(req, res)` handler sets `Transfer-Encoding: chunked`
 * itself: Node then frames the body, while nsgi's gateways frame it their own
 * way (FastCGI records, the web server's chunking), so the frames come off
 * here. Payload is handed out as views of the input, never copied.
 * Extensions and trailers are dropped.
 * @module
 */
import { ProtocolError } from '../errors.js';

const enum State {
  Size,
  Ext,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  Trailer,
  TrailerLF,
  Done,
}

/** Feeds chunked bytes in, gets payload out. */
export class ChunkedDecoder {
  private state = State.Size;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private lineEmpty = true;

  /** True once the last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** Decodes `input`, appending payload views to `out`; bytes after the end are ignored. */
  push(input: Uint8Array, out: Uint8Array[]): void {
    let i = 0;
    const n = input.length;
    while (i < n && this.state !== State.Done) {
      if (this.state === State.Data) {
        const take = Math.min(this.remaining, n - i);
        out.push(input.subarray(i, i + take));
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = State.DataCR;
        continue;
      }
      const c = input[i++]!;
      switch (this.state) {
        case State.Size: {
          const v = hex(c);
          if (v !== -1) {
            if (++this.digits > 12) this.bad('chunk size too large');
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) {
            this.bad('chunk size expected');
          } else if (c === 0x0d) {
            this.state = State.SizeLF;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            this.state = State.Ext;
          } else {
            this.bad('bad character in chunk size');
          }
          break;
        }
        case State.Ext:
          if (c === 0x0d) this.state = State.SizeLF;
          break;
        case State.SizeLF:
          if (c !== 0x0a) this.bad('LF expected after chunk size');
          if (this.size === 0) {
            this.state = State.Trailer;
            this.lineEmpty = true;
          } else {
            this.remaining = this.size;
            this.state = State.Data;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case State.DataCR:
          if (c !== 0x0d) this.bad('CRLF expected after chunk data');
          this.state = State.DataLF;
          break;
        case State.DataLF:
          if (c !== 0x0a) this.bad('CRLF expected after chunk data');
          this.state = State.Size;
          break;
        case State.Trailer:
          if (c === 0x0d) this.state = State.TrailerLF;
          else this.lineEmpty = false;
          break;
        case State.TrailerLF:
          if (c !== 0x0a) this.bad('LF expected in trailer section');
          if (this.lineEmpty) this.state = State.Done;
          else {
            this.lineEmpty = true;
            this.state = State.Trailer;
          }
          break;
      }
    }
  }

  private bad(what: string): never {
    throw new ProtocolError('NSGI_ERR_BRIDGE_CHUNKED', `bridge: malformed chunked body from the handler: ${what}`);
  }
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}
