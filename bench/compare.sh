#!/bin/sh
# Wrapper: see bench/compare.py --help.  OURS_BIN / REF_BIN / MCLOAD env vars apply.
exec python3 "$(dirname "$0")/compare.py" "$@"
