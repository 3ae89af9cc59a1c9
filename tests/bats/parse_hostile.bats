#!/usr/bin/env bats
# wp-parse against hostile lines and files: absurd times and byte counts,
# overflowing sums, files that grow while read, copies of billed files, lines
# that cycle through days, and signals while it waits.
bats_require_minimum_version 1.5.0

load site

setup() {
    make_test_site wp-parse-hostile
    "$HOSTS" add tor1
    mkdir -p "$T/spool/tor1"
}

teardown() {
    [ -z "${BG:-}" ] || kill "$BG" 2>/dev/null || true
    rm -rf "$T"
}

native() { # TIME BYTES USER: one native line
    printf '%s.000 10 192.0.2.1 TCP_MISS/200 %s GET http://x/ %s HIER_DIRECT/198.51.100.1 text/html\n' "$1" "$2" "$3"
}

@test "absurd times and byte counts are rejected lines with their reasons, never a failed file" {
    {
        "$GEN" --lines 1000 --seed 1
        native 1000000000000 100 alice        # year 33658
        native 253402214400 100 alice         # 9999-12-31
        native 946684799 100 alice            # 1999-12-31T23:59:59Z
        native $(($(date +%s) + 90000)) 100 alice
        for i in 1 2 3; do native 1764030000 999999999999999999 bob; done
        "$GEN" --lines 1000 --seed 2
    } >"$T/spool/tor1/tor1.1.log"
    for i in 1 2 3; do native 1764030001 999999999999999999 bob; done >"$T/spool/tor1/tor1.2.log"
    "$GEN" --lines 500 --seed 3 >>"$T/spool/tor1/tor1.2.log"
    run --separate-stderr "$PARSE" --max-reject-ratio 0.5
    [ "$status" -eq 0 ]
    [ "$(cut -f 1,2 "$T/rejects/tor1/tor1.1.log.rejects")" = "$(printf '1001\ttime more than a day ahead of the clock\n1002\ttime more than a day ahead of the clock\n1003\ttime before 2000-01-01\n1004\ttime more than a day ahead of the clock\n1005\tbyte count above 1 TiB\n1006\tbyte count above 1 TiB\n1007\tbyte count above 1 TiB')" ]
    [ "$(sqlite3 "$DB" 'SELECT source_name, lines, rejected FROM ingested_files ORDER BY 1')" = "$(printf 'tor1.1.log|2007|7\ntor1.2.log|503|3')" ]
    # billed exactly what awk bills of the sane lines
    { "$GEN" --lines 1000 --seed 1; "$GEN" --lines 1000 --seed 2; "$GEN" --lines 500 --seed 3; } >"$T/sane"
    "$ORACLE" <"$T/sane" | awk -F'\t' '{ r += $3; b += $5 } END { print r, b }' >"$T/expected"
    [ "$(cat "$T/expected")" = "$(sqlite3 -separator ' ' "$DB" 'SELECT sum(requests), sum(billed_bytes) FROM usage')" ]
    [ "$(sqlite3 "$DB" "SELECT typeof(sum(bytes)) FROM usage")" = "integer" ]
    # no stray archive directory for year 33658 or 9999; every line archived
    [ "$(cd "$T/archive/tor1" && ls)" = "2025-11" ]
    [ "$(find "$T/archive" -name '*.zst' -exec zstdcat {} + | wc -l)" -eq 2510 ]
    # and the rollup copes in any time zone
    "$BIN/wp-rollup" --rebuild --tz Asia/Tokyo
    "$BIN/wp-rollup" --verify --tz Asia/Tokyo
}

@test "a sum that would overflow 64 bits fails that file with a clear message, nothing stored as REAL" {
    native 1764030000 1000 bob >"$T/spool/tor1/tor1.1.log"
    "$PARSE"
    sqlite3 "$DB" "UPDATE usage SET bytes = 9223372036854775000, billed_bytes = 9223372036854775000"
    native 1764030001 1000 bob >"$T/spool/tor1/tor1.2.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-parse: warning: $T/spool/tor1/tor1.2.log: "*"usage sums must be 64-bit integers (overflow)"* ]]
    [ -f "$T/spool/tor1/tor1.2.log" ]
    [ "$(sqlite3 "$DB" "SELECT typeof(bytes), bytes FROM usage")" = "integer|9223372036854775000" ]
    # a database that an older version let overflow: --verify says so
    sqlite3 "$DB" "DROP TRIGGER usage_sums_update; UPDATE usage SET bytes = bytes + 1000"
    [ "$(sqlite3 "$DB" "SELECT typeof(bytes) FROM usage")" = "real" ]
    run --separate-stderr "$BIN/wp-rollup" --verify
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-rollup: 1 rows of usage hold values that are not 64-bit integers of 0 or more (e.g. "* ]]
}

@test "a file that grows while it is read is not billed and stays for the next run" {
    "$GEN" --lines 400000 --seed 1 >"$T/big.log"
    "$PARSE" --server tor1 "$T/big.log" &
    local pid=$!
    # append for as long as the run lasts
    ( while kill -0 "$pid" 2>/dev/null; do "$GEN" --lines 20 --seed 9 --start 1764032000 >>"$T/big.log"; done ) &
    BG=$!
    local st=0
    wait "$pid" || st=$?
    wait "$BG"
    BG=
    [ "$st" -eq 1 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" -eq 0 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM usage')" -eq 0 ]
    [ -z "$(find "$T/archive" -type f -size +0 2>/dev/null)" ]
    # once it stands still, every line is billed
    run --separate-stderr "$PARSE" --server tor1 "$T/big.log"
    [ "$status" -eq 0 ]
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq "$(wc -l <"$T/big.log")" ]
    [ "$(find "$T/archive" -name '*.zst' -exec zstdcat {} + | wc -l)" -eq "$(wc -l <"$T/big.log")" ]
}

@test "a copy with other line ends, or a longer version, of a billed file is held; --force-overlap bills it" {
    "$GEN" --lines 1000 --seed 1 >"$T/spool/tor1/tor1.1.log"
    cp "$T/spool/tor1/tor1.1.log" "$T/orig.log"
    "$PARSE"
    sed 's/$/\r/' "$T/orig.log" >"$T/spool/tor1/tor1.crlf.log"
    { cat "$T/orig.log"; "$GEN" --lines 10 --seed 2 --start 1764032000; } >"$T/spool/tor1/tor1.more.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
    [ "${stderr_lines[0]}" = "wp-parse: warning: $T/spool/tor1/tor1.crlf.log: starts with the same line and time as tor1.1.log, billed already, but its bytes differ: held, not billed (--force-overlap bills it)" ]
    [ "${stderr_lines[1]}" = "wp-parse: warning: $T/spool/tor1/tor1.more.log: starts with the same line and time as tor1.1.log, billed already, but its bytes differ: held, not billed (--force-overlap bills it)" ]
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq 1000 ]
    [ "$(find "$T/archive" -name '*.zst' -exec zstdcat {} + | wc -l)" -eq 1000 ]
    [ -f "$T/spool/tor1/tor1.crlf.log" ] && [ -f "$T/spool/tor1/tor1.more.log" ]
    rm "$T/spool/tor1/tor1.crlf.log"
    run --separate-stderr "$PARSE" --force-overlap
    [ "$status" -eq 0 ]
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq 2010 ]
}

@test "lines cycling through 5 days cost one fsync per day file" {
    for i in $(seq 0 4999); do
        for d in 0 1 2 3 4; do
            native $((1764028800 + d * 86400 + i)) 100 "u$d"
        done
    done >"$T/spool/tor1/tor1.cycle.log"
    [ "$(wc -l <"$T/spool/tor1/tor1.cycle.log")" -eq 25000 ]
    no_leak_check_under_strace
    strace -f -y -o "$T/trace" -e trace=fsync,fdatasync "$PARSE"
    [ "$(grep -c '^[0-9]* *fsync([0-9]*<.*\.log\.zst>)' "$T/trace")" -eq 5 ]
    for d in 25 26 27 28 29; do
        [ "$(zstdcat "$T/archive/tor1/2025-11/tor1.2025-11-$d.log.zst" | wc -l)" -eq 5000 ]
    done
    [ "$(sqlite3 "$DB" 'SELECT count(DISTINCT hour) FROM usage')" -eq 10 ]
}

@test "a hidden log in the spool is named, not skipped in silence" {
    "$GEN" --lines 10 --seed 1 >"$T/spool/tor1/.tor1.x.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-parse: warning: $T/spool/tor1/.tor1.x.log: a hidden log is not billed (remove the leading '.' from its name to bill it)" ]
    [ -f "$T/spool/tor1/.tor1.x.log" ]
}

@test "bytes past ASCII in a rejected line reach the terminal escaped, the rejects file as they were" {
    { "$GEN" --lines 999 --seed 2; printf 'caf\351 \302\233 line\n'; } >"$T/spool/tor1/tor1.x.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-parse: warning: $T/spool/tor1/tor1.x.log: 1 of 1000 lines not billed (first at line 1000, not understood: caf\\xe9 \\xc2\\x9b line), kept in $T/rejects/tor1/" ]
    [ "$(cat "$T/rejects/tor1/tor1.x.log.rejects")" = "$(printf '1000\tnot understood\tcaf\351 \302\233 line')" ]
}

@test "SIGTERM ends a run that waits on standard input; the status says which signal" {
    mkfifo "$T/fifo"
    # a writer that never writes: the reader waits
    sleep 30 >"$T/fifo" &
    BG=$!
    "$PARSE" --server tor1 - <"$T/fifo" 2>"$T/err" &
    local pid=$!
    sleep 0.5
    kill -TERM "$pid"
    local st=0
    # a hang would show here as the 10 s guard's 124, not as a failure to end
    timeout 10 tail --pid="$pid" -f /dev/null || st=$?
    [ "$st" -eq 0 ]
    wait "$pid" || st=$?
    [ "$st" -eq 143 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" -eq 0 ]
}
