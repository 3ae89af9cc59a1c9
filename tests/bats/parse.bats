#!/usr/bin/env bats
# wp-parse as cron and operators run it. Oracles: awk over the same lines
# (tests/tools/bill-awk), the store's own SQL (db_sql: sqlite3 or psql),
# zstdcat, and curl's own counts. WP_TEST_DB=postgresql runs it on PostgreSQL.
# Address block 127.0.43.* belongs to this file.
bats_require_minimum_version 1.5.0

load site

setup() {
    make_test_site wp-parse-bats
}

teardown() {
    if [ -n "${FLEET_DIR_USED:-}" ]; then
        "$SRC/tests/fleet/fleet" stop "$FLEET_DIR_USED" || true
    fi
    drop_test_site
}

# usage_tsv: the database's usage as "user hour requests bytes billed", sorted
usage_tsv() {
    db_sql -separator $'\t' "SELECT u.name, g.hour, g.requests, g.bytes, g.billed_bytes
        FROM usage g JOIN users u ON u.id = g.user_id ${1:-} ORDER BY 1, 2" | LC_ALL=C sort
}

@test "real Squid: billed bytes per user equal awk's, requests equal curl calls" {
    command -v squid >/dev/null || skip "squid is not installed"
    FLEET_DIR_USED=$T/fleet
    mkdir "$FLEET_DIR_USED"
    run "$SRC/tests/fleet/fleet" start "$FLEET_DIR_USED" --hosts 1 --base 127.0.43 --squid
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    eval "$("$SRC/tests/fleet/fleet" env "$FLEET_DIR_USED")"
    local proxy=$FLEET_PROXY_host1 origin=$FLEET_ORIGIN
    declare -A calls
    counted_get() { # counted_get USER PASSWORD PATH
        curl -sS -o /dev/null -x "$proxy" -U "$1:$2" "$origin/$3" || true
        calls[$1]=$((${calls[$1]:-0} + 1))
    }
    counted_get alice "$(pw alice)" 10000.bin   # miss
    counted_get alice "$(pw alice)" 10000.bin   # memory hit
    counted_get alice "$(pw alice)" 100000.bin  # miss
    counted_get bob "$(pw bob)" 1000.bin        # miss
    counted_get bob "$(pw bob)" 10000.bin       # hit (alice fetched it)
    counted_get bob wrong-password 1000.bin     # TCP_DENIED/407 under bob
    counted_get "carol smith" "$(pw 'carol smith')" 1000.bin
    counted_get "carol smith" "$(pw 'carol smith')" 1000.bin
    curl -sS -p -x "$proxy" -U "alice:$(pw alice)" "http://$FLEET_TUNNEL/" >/dev/null || true
    calls[alice]=$((calls[alice] + 1))   # CONNECT tunnel

    # claim the log the way wp-fetchlogs does: rename, then make Squid reopen
    local log=$FLEET_LOG_host1
    for i in $(seq 50); do [ "$(wc -l <"$log")" -ge 9 ] && break; sleep 0.1; done
    mv "$log" "$log.claimed"
    squid -n "$FLEET_SQUID_NAME_host1" -f "$FLEET_SQUID_CONF_host1" -k rotate
    [ "$(wc -l <"$log.claimed")" -eq 9 ] || { cat "$log.claimed"; false; }
    grep -q ' TCP_MEM_HIT/200 ' "$log.claimed"
    grep -q ' TCP_DENIED/407 .* bob HIER_NONE/- ' "$log.claimed"
    grep -q ' TCP_TUNNEL/200 .* CONNECT ' "$log.claimed"

    "$HOSTS" add host1 --address "$FLEET_ADDR_host1"
    spool_file host1 host1.20261125T130000Z.log <"$log.claimed"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$output" ]
    [ -z "$stderr" ]

    # per user: billed bytes from awk's reading of the same lines
    "$ORACLE" "$log.claimed" | awk -F'\t' '{ r[$1] += $3; b[$1] += $5 } END { for (u in r) printf "%s\t%d\t%d\n", u, r[u], b[u] }' | sort >"$T/expect"
    db_sql -separator $'\t' "SELECT u.name, sum(requests), sum(billed_bytes) FROM usage g JOIN users u ON u.id = g.user_id GROUP BY 1" | sort >"$T/got"
    diff "$T/expect" "$T/got"
    # requests per user equal the curl calls made as that user
    for u in alice bob "carol smith"; do
        [ "$(db_sql "SELECT sum(requests) FROM usage g JOIN users u ON u.id = g.user_id WHERE u.name = '$u'")" -eq "${calls[$u]}" ] ||
            { echo "$u: expected ${calls[$u]} requests"; false; }
    done
    # and the archive gives back the exact bytes
    zstdcat "$T"/archive/host1/*/*.log.zst | cmp - "$log.claimed"
    [ ! -e "$T/spool/host1/host1.20261125T130000Z.log" ]
}

@test "every (user, hour) record equals awk's, through -o - and the database" {
    "$GEN" --lines 30000 --span 10800 --seed 7 >"$T/a.log"
    "$ORACLE" "$T/a.log" >"$T/expect"
    run --separate-stderr "$PARSE" --server tor1 -o - "$T/a.log"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf 'server\tuser\thour\trequests\tbytes\tbilled_bytes')" ]
    printf '%s\n' "${lines[@]:1}" | awk -F'\t' -v OFS='\t' '{ cmd = "date -u -d " $3 " +%s"; cmd | getline h; close(cmd); print $2, h, $4, $5, $6 }' | LC_ALL=C sort >"$T/got"
    diff "$T/expect" "$T/got"
    db_absent  # -o touches nothing else

    "$HOSTS" add tor1
    spool_file tor1 tor1.a.log <"$T/a.log"
    "$PARSE"
    usage_tsv >"$T/db"
    diff "$T/expect" "$T/db"
    # ledger and dirty days
    [ "$(db_sql -separator ' ' 'SELECT lines, rejected, first_ts, last_ts FROM ingested_files')" = \
      "30000 0 $(head -1 "$T/a.log" | cut -d. -f1) $(tail -1 "$T/a.log" | cut -d. -f1)" ]
    [ "$(db_sql 'SELECT day FROM dirty_days ORDER BY day' | paste -sd,)" = "2025-11-25" ]
    [ "$(db_sql 'SELECT sha256 FROM ingested_files')" = "$(sha256sum <"$T/a.log" | cut -d' ' -f1)" ]
}

@test "the same file twice (renamed, touched, compressed) is billed once" {
    "$HOSTS" add tor1
    "$GEN" --lines 5000 --seed 3 >"$T/a.log"
    spool_file tor1 tor1.1.log <"$T/a.log"
    "$PARSE"
    before=$(db_sql 'SELECT * FROM usage ORDER BY 1,2,3; SELECT count(*) FROM ingested_files; SELECT * FROM archive_files ORDER BY path')
    spool_file tor1 tor1.renamed.log <"$T/a.log"
    touch -d '2030-01-01' "$T/spool/tor1/tor1.renamed.log"
    zstd -q -c "$T/a.log" | spool_file tor1 tor1.again.log.zst
    gzip -c "$T/a.log" | spool_file tor1 tor1.again.log.gz
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ "$(db_sql 'SELECT * FROM usage ORDER BY 1,2,3; SELECT count(*) FROM ingested_files; SELECT * FROM archive_files ORDER BY path')" = "$before" ]
    [ -z "$(ls "$T/spool/tor1")" ]
    # archived once
    [ "$(zstdcat "$T"/archive/tor1/*/*.zst | wc -l)" -eq 5000 ]
}

@test "two files touching the same hour add up" {
    "$HOSTS" add tor1
    "$GEN" --lines 4000 --seed 11 >"$T/all.log"
    head -2500 "$T/all.log" | spool_file tor1 tor1.1.log
    tail -n +2501 "$T/all.log" | spool_file tor1 tor1.2.log
    "$PARSE"
    "$ORACLE" "$T/all.log" >"$T/expect"
    usage_tsv >"$T/got"
    diff "$T/expect" "$T/got"
    zstdcat "$T"/archive/tor1/*/*.zst | cmp - "$T/all.log"
}

@test "-j 2 on three servers' spools bills each server as awk does" {
    # Two workers share the database and the unpriced-tag tally; the
    # sanitizer builds (make -f Makefile.dist tsan) run this for races.
    local s
    for s in s1 s2 s3; do
        "$HOSTS" add "$s"
        "$GEN" --lines 6000 --span 7200 --seed "${s#s}" >"$T/$s.log"
        head -3000 "$T/$s.log" | spool_file "$s" "$s.1.log"
        tail -n +3001 "$T/$s.log" | spool_file "$s" "$s.2.log"
    done
    run --separate-stderr "$PARSE" -j 2
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    for s in s1 s2 s3; do
        "$ORACLE" "$T/$s.log" >"$T/expect"
        usage_tsv "WHERE g.server_id = (SELECT id FROM servers WHERE name = '$s')" >"$T/got"
        diff "$T/expect" "$T/got"
        [ -z "$(ls "$T/spool/$s")" ]
    done
}

@test "native lines of every shape the design lists" {
    "$HOSTS" add s1
    cat >"$T/shapes.log" <<'LOG'
1294011828.214   1309 TCP_MISS/200 10032 GET http://wonderproxyblog.com/ paul DIRECT/ text/html
1294011828.784      0 TCP_MEM_HIT/200 943 GET http://s0.wp.com/wp-content/themes/h4/global.css? paul NONE/- text/css
1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET http://127.0.0.1:8080/f10k alice HIER_DIRECT/127.0.0.1 application/octet-stream
1764072001.000     -3 2001:db8::7 TCP_REFRESH_UNMODIFIED/304 250 GET http://x.example/a carol%20smith HIER_DIRECT/x.example -
1764072002.000      0 - NONE_NONE/000 0 - error:transaction-end-before-headers - HIER_NONE/- -
1764072003.000     10 192.0.2.1 TCP_MISS_ABORTED/200 700 GET http://x.example/b carol smith TIMEOUT_HIER_DIRECT/192.0.2.9 :
1764072004.000     10 192.0.2.1 TCP_TUNNEL/200 5123 CONNECT example.com:443 alice HIER_DIRECT/1.2.3.4 -
1764072005.000     10 192.0.2.1 TCP_REFRESH_HIT/200 100 GET http://x.example/c alice DIRECT/peer.example.net text/plain
1764072006.000     10 192.0.2.1 TCP_DENIED/407 3528 GET http://x.example/d bob HIER_NONE/- text/html
LOG
    printf '1764072007.000     10 192.0.2.1 TCP_HIT/200 77 GET http://x.example/e alice HIER_NONE/- text/plain\r\n1764072008.000 1 192.0.2.1 TCP_MISS/200 5 GET http://x.example/f alice HIER_DIRECT/x -' >>"$T/shapes.log"
    run --separate-stderr "$PARSE" --server s1 -o - "$T/shapes.log"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$output" = "$(printf 'server\tuser\thour\trequests\tbytes\tbilled_bytes
s1\t-\t2025-11-25T12:00:00Z\t1\t0\t0
s1\talice\t2025-11-25T12:00:00Z\t5\t15650\t31123
s1\tbob\t2025-11-25T12:00:00Z\t1\t3528\t0
s1\tcarol smith\t2025-11-25T12:00:00Z\t2\t950\t1650
s1\tpaul\t2011-01-02T23:00:00Z\t2\t10975\t21007')" ] || { echo "$output"; false; }
}

@test "--json without -o is a usage error: nothing billed, nothing removed" {
    "$HOSTS" add tor1
    "$GEN" --lines 100 --seed 4 | spool_file tor1 tor1.1.log
    run --separate-stderr "$PARSE" --json "$T/spool/tor1/tor1.1.log"
    [ "$status" -eq 64 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-parse: --json needs -o FILE or -o -: it is the format of the records -o writes" ]
    run --separate-stderr "$PARSE" --json
    [ "$status" -eq 64 ]
    [ "$(db_sql 'SELECT count(*) FROM usage') $(db_sql 'SELECT count(*) FROM ingested_files')" = "0 0" ]
    [ -f "$T/spool/tor1/tor1.1.log" ]
    [ ! -e "$T/archive/tor1" ]
    # with -o it is the records' format
    run --separate-stderr "$PARSE" --json -o - "$T/spool/tor1/tor1.1.log"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == '{"server":"tor1",'* ]]
}

@test "-v: one line per billed file on stderr: lines, rejected, hours, billed bytes as awk counts them" {
    "$HOSTS" add tor1
    "$GEN" --lines 3000 --span 10800 --seed 9 >"$T/a.log"
    { cat "$T/a.log"; printf 'not a squid line\nnor this one\n'; } | spool_file tor1 tor1.1.log
    "$ORACLE" "$T/a.log" >"$T/expect"
    local hours billed
    hours=$(cut -f2 "$T/expect" | sort -u | wc -l)
    billed=$(awk -F'\t' '{ b += $5 } END { printf "%d", b }' "$T/expect")
    [ "$hours" -ge 3 ]
    run --separate-stderr "$PARSE" -v
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    printf '%s\n' "${stderr_lines[@]}" | grep -Fx "wp-parse: $T/spool/tor1/tor1.1.log: billed: 3002 lines, 2 rejected, $hours hours, $billed billed bytes"
    # without -v only the rejects are told
    "$GEN" --lines 10 --seed 10 | spool_file tor1 tor1.2.log
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
}
