#!/bin/sh
# dispatch.cgi: run the app as a plain CGI script (RFC 3875), one process per request.
#
# The debugging fallback of the FastCGI setup ("rename dispatch.fcgi to dispatch.cgi: slower,
# but reloaded on every request"), and the way to run an app where only CGI is offered.
# nsgi sees GATEWAY_INTERFACE in the environment and runs once as CGI; --cgi says so explicitly.
#
# Edit the two paths, then: chmod 0755 dispatch.cgi, and put .htaccess beside it.
# Errors (and anything the app writes to wsgi.errors) go to the web server's error log.
cd /path/to/your/app || exit 1
exec /usr/bin/env nsgi serve app.mjs --cgi
