#!/bin/sh
# gen-conf.sh EXAMPLE -- print /etc/memcached-ng.conf for the Debian package.
#
# The package's configuration file is the generated memcached.conf.example
# (every setting with its default) with the package's paths filled in:
# the service user, the pid file, the log file and the snapshot.  Each
# substitution must hit exactly one line; if the example's wording changes
# this fails the package build instead of shipping a file without them.
set -e
example=$1
[ -r "$example" ] || { echo "gen-conf.sh: cannot read $example" >&2; exit 1; }

out=$(sed \
    -e '1,3c\
# /etc/memcached-ng.conf -- configuration of the memcached-ng service.\
# Read by memcached-ng.service (memcached-ng --config=/etc/memcached-ng.conf\
# --daemon=no); after editing: systemctl reload memcached-ng.' \
    -e 's|^# As shipped, this file starts the server exactly as the defaults do\.$|# As shipped: the defaults, plus the package paths (user, pidfile,\
# logfile, snapshot_path: the snapshot keeps the cache across restarts).|' \
    -e 's|^#user =$|user = memcached-ng|' \
    -e 's|^#pidfile =$|pidfile = /run/memcached-ng/memcached-ng.pid|' \
    -e 's|^#logfile =$|logfile = /var/log/memcached-ng/memcached-ng.log|' \
    -e 's|^#snapshot_path =$|snapshot_path = /var/lib/memcached-ng/cache.snapshot|' \
    "$example")

for want in '^# /etc/memcached-ng.conf ' '^# As shipped: the defaults, plus' \
        '^user = memcached-ng$' '^pidfile = /run/memcached-ng/' \
        '^logfile = /var/log/memcached-ng/' '^snapshot_path = /var/lib/memcached-ng/'; do
    n=$(printf '%s\n' "$out" | grep -c -- "$want" || true)
    if [ "$n" != 1 ]; then
        echo "gen-conf.sh: '$want' matches $n lines in the output, want 1 (did $example change?)" >&2
        exit 1
    fi
done
if printf '%s\n' "$out" | grep -q 'GENERATED\|do not edit by hand'; then
    echo "gen-conf.sh: the example's header was not replaced" >&2
    exit 1
fi
printf '%s\n' "$out"
