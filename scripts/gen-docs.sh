#!/bin/sh
# Regenerate memcached.conf.example and doc/memcached.1 from the option
# table.  Run from the top of the tree after `make build`.
set -e
make -C build option-gen
./build/option-gen example > memcached.conf.example
./build/option-gen man > doc/memcached.1
