#!/usr/bin/env bats
# Crash safety of wp-parse: SIGKILL at many points of the ingest of a
# multi-file, multi-server spool, then a run to completion, must leave exactly
# what one clean run leaves: the same usage, every archive file intact, and
# every input line archived exactly once.
bats_require_minimum_version 1.5.0

load site

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-crash-bats.XXXXXX")
}

teardown() {
    rm -rf "$T"
}

@test "SIGKILL at 20+ points of an ingest, then a re-run, bills and archives every line exactly once" {
    # 3 servers x 4 files, spanning a UTC midnight, with a few malformed lines
    local seed=1 start=1764107000
    for s in tor1 dub1 par1; do
        mkdir -p "$T/input/$s"
        for f in 1 2 3 4; do
            "$SRC/tests/tools/gen-squid-log" --lines 30000 --start $((start + f * 1800)) --span 1800 \
                --seed $seed --garbage 2 --users 200 >"$T/input/$s/$s.2025112$f.log"
            seed=$((seed + 1))
        done
    done

    make_site clean
    local t0 t1
    t0=$(date +%s%N)
    "$BIN/wp-parse" --config "$T/clean/wp.conf" 2>/dev/null
    t1=$(date +%s%N)
    local clean_ms=$(((t1 - t0) / 1000000))
    [ -z "$(find "$T/clean/spool" -type f)" ]

    # Rounds on fresh copies: each kills runs at random points in [0, clean run
    # time] until one run finishes, so kills land anywhere in the ingest
    # (parsing, archive fsync, the transaction, the unlink), early and late.
    local kills=0 round=0
    while [ "$kills" -lt 24 ] && [ "$round" -lt 40 ]; do
        round=$((round + 1))
        rm -rf "$T/crash"
        make_site crash
        local runs=0
        while [ -n "$(find "$T/crash/spool" -type f -name '*.log')" ] && [ "$runs" -lt 50 ]; do
            runs=$((runs + 1))
            "$BIN/wp-parse" --config "$T/crash/wp.conf" -j $((runs % 2 + 1)) 2>/dev/null &
            local pid=$!
            sleep "$(awk -v m="$clean_ms" -v r="$RANDOM" 'BEGIN { srand(r); printf "%.3f", rand() * m / 1000 }')"
            if kill -9 "$pid" 2>/dev/null; then
                kills=$((kills + 1))
            fi
            wait "$pid" || true
        done
        "$BIN/wp-parse" --config "$T/crash/wp.conf" # to completion
        check_same_as_clean crash
    done
    echo "clean run ${clean_ms} ms; $round rounds, $kills runs killed" >&3
    [ "$kills" -ge 24 ]
}
