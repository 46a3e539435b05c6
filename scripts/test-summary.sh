#!/bin/sh
# test-summary.sh DIR... -- add up the results of the tests `make check` ran
# in each build DIR and print one closing line "N passed, N failed".
# A test binary whose log breaks its result down (Check: "Checks: N,
# Failures: F, Errors: E"; the integration runner: "N passed, N failed")
# counts its individual tests; any other test counts once, by its result.
# An argument that is a file (build-win/test-windows.log) is a runner's
# log: its "N passed, N failed" line counts.
passed=0
failed=0
for dir in "$@"; do
    if [ -f "$dir" ]; then
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$dir" | tail -n 1)
        [ -n "$line" ] || line="0 passed, 1 failed"
        passed=$((passed + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
        failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
        continue
    fi
    for trs in $(find "$dir" -name '*.trs' 2>/dev/null); do
        log=${trs%.trs}.log
        line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" 2>/dev/null | tail -n 1)
        if [ -n "$line" ]; then
            n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
            f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
            e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
            passed=$((passed + n - f - e))
            failed=$((failed + f + e))
            continue
        fi
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" 2>/dev/null | tail -n 1)
        if [ -n "$line" ]; then
            passed=$((passed + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
            failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
            continue
        fi
        if grep -q '^:test-result: PASS' "$trs"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
