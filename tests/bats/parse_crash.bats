#!/usr/bin/env bats
# Crash safety of wp-parse: SIGKILL at many points of the ingest of a
# multi-file, multi-server spool, then a run to completion, must leave exactly
# what one clean run leaves: the same usage, every archive file intact, and
# every input line archived exactly once.
bats_require_minimum_version 1.5.0

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-crash-bats.XXXXXX")
}

teardown() {
    rm -rf "$T"
}

# make_site NAME: a config, database and inventory under $T/NAME
make_site() {
    mkdir -p "$T/$1"
    printf 'db = %s\nspool = %s\narchive = %s\nrejects = %s\n' \
        "$T/$1/wp.db" "$T/$1/spool" "$T/$1/archive" "$T/$1/rejects" >"$T/$1/wp.conf"
    for s in tor1 dub1 par1; do
        "$BIN/wp-hosts" --config "$T/$1/wp.conf" add "$s"
    done
    cp -r "$T/input" "$T/$1/spool"
}

state_of() { # everything billing depends on, in a comparable form
    sqlite3 -separator $'\t' "$T/$1/wp.db" "
        SELECT s.name, u.name, g.hour, g.requests, g.bytes, g.billed_bytes FROM usage g
            JOIN servers s ON s.id = g.server_id JOIN users u ON u.id = g.user_id ORDER BY 1, 2, 3;
        SELECT s.name, d.day FROM dirty_days d JOIN servers s ON s.id = d.server_id ORDER BY 1, 2;
        SELECT sha256, source_name, lines, rejected, first_ts, last_ts FROM ingested_files ORDER BY 1;"
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
    cat "$T"/input/*/*.log | LC_ALL=C sort >"$T/all-lines"

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
        check_same_as_clean
    done
    echo "clean run ${clean_ms} ms; $round rounds, $kills runs killed" >&3
    [ "$kills" -ge 24 ]
}

check_same_as_clean() {
    [ -z "$(find "$T/crash/spool" -type f)" ]
    # same usage, dirty days and ledger as the clean run
    diff <(state_of clean) <(state_of crash)
    [ "$(sqlite3 "$T/crash/wp.db" 'SELECT count(*) FROM ingested_files')" -eq 12 ]
    # every archive file is valid zstd and as long as committed
    local f rel size
    for f in $(find "$T/crash/archive" -type f); do
        zstd -t -q "$f"
        rel=${f#"$T/crash/archive/"}
        size=$(sqlite3 "$T/crash/wp.db" "SELECT committed_size FROM archive_files WHERE path = '$rel'")
        [ "$(stat -c %s "$f")" -eq "$size" ]
    done
    # every input line archived exactly once, and nothing else
    find "$T/crash/archive" -type f -name '*.zst' -exec zstdcat {} + | LC_ALL=C sort >"$T/archived"
    [ -z "$(uniq -d "$T/archived")" ]
    [ "$(wc -l <"$T/archived")" -eq "$(wc -l <"$T/all-lines")" ]
    cmp "$T/archived" "$T/all-lines"
    # and each dated line sits in the archive of its own UTC day
    [ "$(zstdcat "$T/crash/archive/tor1/2025-11/tor1.2025-11-26.log.zst" | awk '$1 < 1764115200 && !/^garbage/' | wc -l)" -eq 0 ]
    [ "$(zstdcat "$T/crash/archive/tor1/2025-11/tor1.2025-11-25.log.zst" | awk '$1 >= 1764115200 && !/^garbage/' | wc -l)" -eq 0 ]
}
