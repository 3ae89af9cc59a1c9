#!/usr/bin/env bats
# wp-parse on inputs made to exhaust memory or hang it: peak RSS (GNU time's
# %M, which counts the waited-for children too) stays under 64 MiB, and each
# run ends with its documented status and message.
bats_require_minimum_version 1.5.0

load site

setup() {
    [ -x /usr/bin/time ] || skip "GNU time is not installed (package time)"
    make_test_site wp-parse-bombs
    "$HOSTS" add srv1
}

teardown() {
    rm -rf "$T"
}

# under_64_mib: the peak RSS bound, asserted except on a sanitizer build
# (ctest sets WP_SANITIZED there), whose shadow memory alone is larger.
under_64_mib() {
    [ -n "${WP_SANITIZED:-}" ] || [ "$peak_kib" -lt 65536 ]
}

# parse_measured ARGS...: wp-parse --server srv1 ARGS under GNU time, killed
# after 120 s; bats' run sets status and stderr, peak_kib the peak RSS in KiB.
parse_measured() {
    run --separate-stderr /usr/bin/time -f '%M' -o "$T/time.out" \
        timeout -s KILL 120 "$PARSE" --config "$WP_CONFIG" --server srv1 "$@"
    peak_kib=$(tail -n 1 "$T/time.out")
    echo "peak RSS ${peak_kib} KiB, status $status" >&3
}

# repeat N CHAR: CHAR N times
repeat() {
    head -c "$1" /dev/zero | tr '\0' "$2"
}

@test "a gzip file that expands to one 1 GiB line: cut to 64 KiB, under 64 MiB, the file fails alone (exit 1)" {
    { repeat 1G a; printf '\n'; "$GEN" --lines 1 --seed 1; } | gzip -1 >"$T/bomb.log.gz"
    parse_measured "$T/bomb.log.gz"
    [ "$status" -eq 1 ]
    under_64_mib
    local first
    first=$(repeat 80 a)
    [ "$stderr" = "wp-parse: warning: $T/bomb.log.gz: 1 of 2 lines not billed (first at line 1, line longer than 65536 bytes: $first), kept in $T/rejects/srv1/
wp-parse: warning: $T/bomb.log.gz: 1 of 2 lines not billed, above --max-reject-ratio 0.01: not billed, left in place" ]
    # the rejected line is kept as its first 64 KiB and a marker
    { printf '1\tline longer than 65536 bytes\t'; repeat 65536 a; printf ' [wp-parse: line cut at 65536 bytes]\n'; } |
        cmp - "$T/rejects/srv1/bomb.log.gz.rejects"
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" -eq 0 ]
    [ -f "$T/bomb.log.gz" ]
}

@test "1 GiB of 10 KB garbage lines: under 64 MiB, the first 1 MiB of them kept, exit 65" {
    yes "$(repeat 10239 g)" | head -c 1G >"$T/garbage.log"
    # 104857 whole lines and a last one without newline
    local total=$(($(wc -l <"$T/garbage.log") + 1))
    parse_measured "$T/garbage.log"
    [ "$status" -eq 65 ]
    under_64_mib
    local first
    first=$(repeat 80 g)
    [ "$stderr" = "wp-parse: warning: $T/garbage.log: $total of $total lines not billed (first at line 1, not understood: $first), kept in $T/rejects/srv1/
wp-parse: warning: $T/garbage.log: $total of $total lines not billed, above --max-reject-ratio 0.01: not billed, left in place
wp-parse: no line of the input was understood as Squid native format" ]
    # rejected lines are kept while less than 1 MiB is: ceil(1 MiB / 10240 bytes) of them
    local kept=$(((1048576 + 10239) / 10240))
    { head -n "$kept" "$T/garbage.log" | awk '{ print NR "\tnot understood\t" $0 }'
      echo "# $((total - kept)) more lines not billed are not listed"; } |
        cmp - "$T/rejects/srv1/garbage.log.rejects"
}

@test "an explicit symlink to /dev/zero and a FIFO without writer are refused at once, one line each, exit 1" {
    ln -s /dev/zero "$T/zero.log"
    parse_measured "$T/zero.log"
    [ "$status" -eq 1 ]
    [ "$stderr" = "wp-parse: warning: $T/zero.log: not a regular file" ]
    under_64_mib

    mkfifo "$T/fifo.log"
    parse_measured "$T/fifo.log"
    [ "$status" -eq 1 ]
    [ "$stderr" = "wp-parse: warning: $T/fifo.log: not a regular file" ]
    [ -p "$T/fifo.log" ]
}
