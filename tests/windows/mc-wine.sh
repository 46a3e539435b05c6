#!/bin/sh
# memcached.exe under Wine, with a POSIX server's command line: the
# integration harness starts servers as "$MC_BIN -U 0 -l HOST -p PORT
# [-u root] ...".  -u has no Windows meaning (refused there), so it is
# dropped here.  MC_EXE names the .exe; the Wine prefix is $WINEPREFIX.
exe=${MC_EXE:?MC_EXE: path of memcached.exe}
n=$#
i=0
skip=0
for a in "$@"; do
    i=$((i + 1))
    if [ $skip = 1 ]; then skip=0; continue; fi
    if [ "$a" = "-u" ]; then skip=1; continue; fi
    set -- "$@" "$a"
done
shift $n
WINEDEBUG=${WINEDEBUG:--all}
export WINEDEBUG
exec wine "$exe" "$@"
