#!/usr/bin/env bats
# The invoice end to end, as an operator's month runs: real Squid lines from
# the generator (and a few written by hand) through wp-parse into SQLite,
# wp-rollup, wp-users import of a CSV with start times, and wp-rollup
# invoice. Oracles: tests/tools/invoice-raw-oracle (Python over the raw lines,
# the CSV and its own reading of share/billing.rules, never the database),
# tests/tools/bill-awk (awk over the raw lines), and sqlite3's own sums.
bats_require_minimum_version 1.5.0
load site

setup() {
    make_test_site wp-invoice-e2e-bats
    ROLLUP=$BIN/wp-rollup
    USERS=$BIN/wp-users
    RAW=$SRC/tests/tools/invoice-raw-oracle
    RULES=$SRC/share/billing.rules
}

teardown() {
    rm -rf "$T"
}

# October 2026 (UTC 1790812800 to 1793491200), with 12 hours either side so
# that the month in Toronto (UTC-4) and Kolkata (UTC+5:30) is whole too.
E2E_START=1790769600
E2E_SPAN=2764800

# The month's raw lines: the generator's on tor1 (CA) and lon1 (GB), and
# hand-written ones on nowhere (no country) for what the generator does not
# write (a redirect, UDP and collapsed-forwarding tags, an unknown tag,
# TAG_NONE, escaped names) and for the edges of assignments and months.
make_logs() {
    "$GEN" --lines 30000 --start $E2E_START --span $E2E_SPAN --seed 16 --users 12 >"$T/tor1.log"
    "$GEN" --lines 12000 --start $E2E_START --span $E2E_SPAN --seed 17 --users 8 >"$T/lon1.log"
    cat >"$T/nowhere.log" <<'EOF'
1790783999.999      5 192.0.2.9 TCP_MISS/200 7777 GET http://a.example/sep user001 HIER_DIRECT/203.0.113.1 text/html
1790812799.500     12 192.0.2.9 TCP_MISS/200 6100 GET http://a.example/sep2 user000 HIER_DIRECT/203.0.113.1 text/html
1790812800.000     12 192.0.2.9 TCP_MISS/200 6200 GET http://a.example/oct user000 HIER_DIRECT/203.0.113.1 text/html
1790830800.123    150 192.0.2.7 TCP_REDIRECT/302 420 GET http://a.example/r user001 HIER_NONE/- text/html
1790834400.000     40 192.0.2.7 TCP_REDIRECT/301 380 GET http://a.example/r2 eve%3Cb%3E HIER_NONE/- text/html
1790838000.000      3 192.0.2.7 UDP_HIT/000 91 ICP_QUERY http://a.example/icp user003 HIER_NONE/- -
1790841600.000     30 192.0.2.7 TCP_CF_HIT/200 5120 GET http://a.example/cf user001 HIER_NONE/- image/png
1790845200.000     30 192.0.2.7 TCP_IMS_HIT_ABORTED/304 260 GET http://a.example/ims user002 HIER_NONE/- -
1790848800.000      1 192.0.2.7 TCP_DENIED_REPLY/403 3900 GET http://a.example/deny user002 HIER_NONE/- text/html
1790852400.000      0 192.0.2.7 TAG_NONE/000 0 - error:invalid-request m%C3%BCller HIER_NONE/- -
1790856000.000    900 192.0.2.7 TCP_STRANGE_NEW/200 1234 GET http://a.example/new tab%09user HIER_DIRECT/203.0.113.9 text/html
1790859600.000    900 192.0.2.7 TCP_SWAPFAIL_MISS/200 4321 GET http://a.example/sw eve%3Cb%3E TIMEOUT_HIER_DIRECT/203.0.113.9 text/html
1792022399.999     70 192.0.2.7 TCP_MISS/200 1000000 GET http://a.example/before user002 HIER_DIRECT/203.0.113.2 text/html
1792022400.000     70 192.0.2.7 TCP_MISS/200 2000000 GET http://a.example/after user002 HIER_DIRECT/203.0.113.2 text/html
1792022400.001     70 192.0.2.7 TCP_HIT/200 300000 GET http://a.example/after2 user002 HIER_NONE/- text/html
1792476000.000     10 192.0.2.7 TCP_MISS/200 55555 GET http://a.example/d1 dave smith HIER_DIRECT/203.0.113.3 text/html
1792476060.000     10 192.0.2.7 TCP_MISS/200 66666 GET http://a.example/d2 dave%20smith HIER_DIRECT/203.0.113.3 text/html
1792479600.000     10 192.0.2.7 TCP_MISS/200 77777 GET http://a.example/d3 dave smith HIER_DIRECT/203.0.113.3 text/html
1793491199.000     10 192.0.2.7 TCP_MISS/200 123 GET http://a.example/last user005 HIER_DIRECT/203.0.113.4 text/html
1793491200.000     10 192.0.2.7 TCP_MISS/200 456 GET http://a.example/nov user005 HIER_DIRECT/203.0.113.4 text/html
1793498400.000     10 192.0.2.7 TCP_MISS/200 789 GET http://a.example/nov2 user005 HIER_DIRECT/203.0.113.4 text/html
1793505600.000     10 192.0.2.7 TCP_MEM_HIT/200 1011 GET http://a.example/nov3 user005 HIER_NONE/- text/html
EOF
}

# Who pays for whom: acme and zeta from the start; user002 moves from acme
# to zeta at 2026-10-15T00:00Z; dave smith joins acme on 2026-10-20T06:00Z
# (unassigned before); user004 leaves zeta on 2026-10-25 (an empty account
# unassigns); user005 joins acme at 2026-11-01T00:00Z (November in UTC, still
# October in Toronto); zed is on acme with no traffic at all. Everyone else
# (user006..user008, '-', eve<b>, müller, tab<TAB>user) stays unassigned.
make_csv() {
    cat >"$T/users.csv" <<'EOF'
user,account,from
user000,acme,1970-01-01
user001,acme,1970-01-01
user002,acme,1970-01-01
user002,zeta,2026-10-15T00:00Z
carol smith,zeta,1970-01-01
user003,zeta,1970-01-01
user004,zeta,2026-10-01
user004,,2026-10-25
dave smith,acme,2026-10-20T06:00Z
user005,acme,2026-11-01T00:00Z
zed,acme,1970-01-01
EOF
}

# raw_oracle ARGS...: the raw-line oracle over the three logs and the CSV
raw_oracle() {
    "$RAW" --rules "$RULES" --users "$T/users.csv" --month 2026-10 "$@" \
        tor1:CA="$T/tor1.log" lon1:GB="$T/lon1.log" nowhere="$T/nowhere.log"
}

@test "per-account invoices equal the raw-line oracle (mover, joiners, leaver, unassigned) in UTC, Toronto and Kolkata; class rows sum to billed_bytes" {
    make_logs
    make_csv
    "$HOSTS" add tor1 --country CA
    "$HOSTS" add lon1 --country GB
    "$HOSTS" add nowhere
    spool_file tor1 tor1.log <"$T/tor1.log"
    spool_file lon1 lon1.log <"$T/lon1.log"
    spool_file nowhere nowhere.log <"$T/nowhere.log"
    run --separate-stderr "$PARSE" --rules "$RULES"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]

    # every raw line was read and billed: none rejected, one request each
    nlines=$(cat "$T/tor1.log" "$T/lon1.log" "$T/nowhere.log" | wc -l)
    [ "$(sqlite3 "$DB" 'SELECT sum(rejected) FROM ingested_files')" -eq 0 ]
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq "$nlines" ]
    # the escaped names were decoded as the oracle decodes them
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM users WHERE name IN ('carol smith', 'dave smith', 'eve<b>', 'müller', 'tab' || char(9) || 'user')")" -eq 5 ]

    # October 2026 is closed on this machine's clock: the CSV reaches into it
    run --separate-stderr "$USERS" import "$T/users.csv"
    [ "$status" -eq 65 ]
    [[ "$stderr" == *"--amend-closed"* ]]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM account_assignments')" -eq 0 ]
    run --separate-stderr "$USERS" import --amend-closed "$T/users.csv"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$output" ]
    # one warning per row that bills used hours differently; zed has none
    [[ "$stderr" == *"wp-users: warning: $T/users.csv:5: user002: the invoices of closed months 2026-10, 2026-11 change (acme -> zeta); issue them again"* ]] ||
        { echo "$stderr"; false; }
    [ "$(printf '%s\n' "$stderr" | grep -c '^wp-users: warning: ')" -eq 10 ]
    no_match zed <<<"$stderr"
    [ "$(sqlite3 -separator '|' "$DB" "SELECT u.name, a.from_hour, coalesce(ac.name, '-') FROM account_assignments a
        JOIN users u ON u.id = a.user_id LEFT JOIN accounts ac ON ac.id = a.account_id ORDER BY u.name, a.from_hour")" = \
"carol smith|0|zeta
dave smith|1792476000|acme
user000|0|acme
user001|0|acme
user002|0|acme
user002|1792022400|zeta
user003|0|zeta
user004|1790812800|zeta
user004|1792886400|-
user005|1793491200|acme
zed|0|acme" ]

    # the columns' order is the database's class ids (in the order wp-parse
    # first met them); which classes there are is the oracle's own finding
    order=$(sqlite3 "$DB" "SELECT group_concat(name, ',') FROM (SELECT name FROM billing_classes WHERE factor IS NOT NULL ORDER BY id)")
    local zone acc
    for zone in UTC America/Toronto Asia/Kolkata; do
        sum=0
        for acc in acme zeta ''; do
            if [ -n "$acc" ]; then
                set -- --account "$acc"
            else
                set -- --unassigned
            fi
            run --separate-stderr "$ROLLUP" invoice --tz "$zone" "$@" --month 2026-10 --format tsv
            [ "$status" -eq 0 ]
            [ -z "$stderr" ]
            printf '%s\n' "$output" >"$T/got"
            raw_oracle --tz "$zone" --class-order "$order" "$@" >"$T/expect"
            diff "$T/expect" "$T/got"
            billed=$(awk -F'\t' '$4 == "total" && $6 == "all" { print $9 }' "$T/got")
            echo "# $zone ${acc:-unassigned}: $(grep -c $'\tuser\t.*\tall\t' "$T/got") users, billed $billed" >&3
            sum=$((sum + billed))
        done
        # the statements together bill every raw line of the month once
        read -r nl _ bytes billed < <(raw_oracle --tz "$zone" --total)
        echo "# $zone: $nl lines of the month, $bytes bytes, billed $billed" >&3
        [ "$sum" -eq "$billed" ]
    done
    # bill-awk (awk over the raw lines) agrees on October in UTC (from the
    # right: a decoded user name may hold a tab)
    awk_total=$(cat "$T/tor1.log" "$T/lon1.log" "$T/nowhere.log" | "$ORACLE" |
        awk -F'\t' '$(NF - 3) >= 1790812800 && $(NF - 3) < 1793491200 { b += $NF } END { printf "%.0f\n", b }')
    [ "$(raw_oracle --tz UTC --total | cut -f4)" -eq "$awk_total" ]

    # the statements show what the CSV says: user002 on both accounts, dave
    # smith on acme and unassigned, zed (on acme, no traffic) on no statement, user005 on
    # acme only in Toronto's October, every class of the rules used
    "$ROLLUP" invoice --account acme --month 2026-10 --format tsv >"$T/acme"
    "$ROLLUP" invoice --account zeta --month 2026-10 --format tsv >"$T/zeta"
    "$ROLLUP" invoice --unassigned --month 2026-10 --format tsv >"$T/none"
    grep -q $'\tuser\tuser002\tall\t' "$T/acme"
    grep -q $'\tuser\tuser002\tall\t' "$T/zeta"
    grep -q $'\tuser\tdave smith\tall\t' "$T/acme"
    grep -q $'\tuser\tdave smith\tall\t' "$T/none"
    [ "$(cat "$T/acme" "$T/zeta" "$T/none" | grep -c $'\tuser\tzed\t')" -eq 0 ]
    grep -q $'\tuser\tuser004\tall\t' "$T/none"
    grep -q $'\tuser\ttab\\\\tuser\tall\t' "$T/none"
    [ "$(grep -c $'\tuser\tuser005\tall\t' "$T/acme")" -eq 0 ]
    "$ROLLUP" invoice --tz America/Toronto --account acme --month 2026-10 --format tsv | grep -q $'\tuser\tuser005\tall\t'
    [ "$(printf '%s\n' "$order" | tr ',' '\n' | sort | tr '\n' ' ')" = "cache free local origin " ]
    no_match $'\tunsplit\t' "$T/acme" "$T/zeta" "$T/none"

    # every usage row is the sum of its class rows, and every class row with
    # a factor billed its bytes x factor
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM usage g LEFT JOIN (SELECT server_id, user_id, hour, sum(requests) r,
        sum(bytes) b, sum(billed_bytes) bb, count(*) n FROM usage_classes GROUP BY 1, 2, 3) c
        USING (server_id, user_id, hour)
        WHERE c.n IS NULL OR c.r != g.requests OR c.b != g.bytes OR c.bb != g.billed_bytes")" -eq 0 ]
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM usage_classes u JOIN billing_classes k ON k.id = u.class_id
        WHERE k.factor IS NULL OR u.billed_bytes != u.bytes * k.factor")" -eq 0 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM usage_classes')" -gt 0 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM usage_classes u JOIN usage g USING (server_id, user_id, hour)')" -eq \
      "$(sqlite3 "$DB" 'SELECT count(*) FROM usage_classes')" ]
    # and every statement line's classes sum to its "all" line
    for f in "$T/acme" "$T/zeta" "$T/none"; do
        awk -F'\t' 'NR == 1 { next }
            { key = $4 SUBSEP $5 }
            $6 == "all" { all[key] = $7 " " $8 " " $9; next }
            { r[key] += $7; b[key] += $8; bb[key] += $9 }
            END { for (k in all) if (all[k] != r[k] " " b[k] " " bb[k]) { print "sum", k; bad = 1 }; exit bad }' "$f"
    done
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}
