#!/bin/sh
# dispatch.fcgi: mod_fcgid starts this with a listening FastCGI socket on fd 0; nsgi sees the
# socket and serves FastCGI on it (no transport flag needed). It runs as Apache's user.
# Edit the two paths (run.mjs fills them in), then: chmod 0755 dispatch.fcgi.
cd {{HERE}} || exit 1
exec {{NSGI}} serve config:{{HERE}}/production.ini
