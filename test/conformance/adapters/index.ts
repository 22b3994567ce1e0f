// Every transport the conformance suite runs against: adding one is a file in this folder and a line here.
import { cgi } from './cgi.js';
import { fastcgi, fastcgiKeepConn } from './fastcgi.js';
import { http } from './http.js';
import { memory } from './memory.js';
import { scgi } from './scgi.js';
import type { Adapter } from './types.js';

export const adapters: Adapter[] = [memory, http, scgi, cgi, fastcgi, fastcgiKeepConn];
