#!/bin/sh
# dispatch.cgi: mod_cgi runs this once per request, as Apache's user, with the request in its
# environment and the body on stdin; nsgi runs the app once and exits (--cgi says so; without it
# nsgi sees GATEWAY_INTERFACE). Errors go to Apache's error log.
# Edit the two paths (run.mjs fills them in), then: chmod 0755 dispatch.cgi.
cd {{HERE}} || exit 1
exec {{NSGI}} serve config:{{HERE}}/production.ini --cgi
