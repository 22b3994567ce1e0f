#!/bin/sh
# The program lighttpd's "bin-path" starts, once per "max-procs", with the listening socket on
# fd 0. With no --fastcgi flag and no bind in production.ini, nsgi notices that socket and
# serves FastCGI on it. Its stderr is lighttpd's own stderr (not server.errorlog).
exec {{NSGI}} serve config:{{HERE}}/production.ini
