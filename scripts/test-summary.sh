#!/bin/sh
# test-summary.sh DIR... -- add up the results of the test logs that
# `make check` left in each build DIR and print one closing line
# "N passed, N failed".  Check binaries log "Checks: N, Failures: F,
# Errors: E"; the integration runner logs "N passed, N failed".
passed=0
failed=0
for dir in "$@"; do
    for log in $(find "$dir" -name '*.log' ! -name 'test-suite.log' ! -name 'config.log' 2>/dev/null); do
        line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n 1)
        if [ -n "$line" ]; then
            n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
            f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
            e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
            passed=$((passed + n - f - e))
            failed=$((failed + f + e))
            continue
        fi
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        if [ -n "$line" ]; then
            p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
            f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
            passed=$((passed + p))
            failed=$((failed + f))
        fi
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
