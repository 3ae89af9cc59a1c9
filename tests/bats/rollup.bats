#!/usr/bin/env bats
# wp-rollup as cron, operators and billing run it. Oracles: the store's own
# SUM over usage (db_sql: sqlite3 or psql), date(1) for days in a time zone,
# awk's reading of the logs (tests/tools/bill-awk), python3's json and csv
# readers. WP_TEST_DB=postgresql runs it on PostgreSQL.
bats_require_minimum_version 1.5.0
load site

setup() {
    make_test_site wp-rollup-bats
    ROLLUP=$BIN/wp-rollup
}

teardown() {
    drop_test_site
}

# The summary as "day server user requests bytes billed", sorted.
summary_tsv() {
    db_sql -separator $'\t' "SELECT day, server_id, user_id, requests, bytes, billed_bytes
        FROM sum_usage_daily ORDER BY 1, 2, 3"
}

# day_of_table ZONE: SQL making the temporary table day_of(hour, day), each
# hour of usage with its day in ZONE as date(1) tells it
day_of_table() {
    local hours
    hours=$(db_sql 'SELECT DISTINCT hour FROM usage') || return 1
    echo "CREATE TEMP TABLE day_of(hour bigint, day text);"
    [ -n "$hours" ] || return 0
    paste <(printf '%s\n' "$hours") <(sed 's/^/@/' <<<"$hours" | TZ=$1 date -f - +%F) |
        awk -F'\t' -v q="'" '{ print "INSERT INTO day_of VALUES (" $1 ", " q $2 q ");" }'
}

# What the summary must be: the store summing usage by itself, by day in the
# zone $1 (UTC unless given).
usage_sums_tsv() {
    local days
    days=$(day_of_table "${1:-UTC}")
    printf '%s\n' "$days" "SELECT d.day, g.server_id, g.user_id, sum(g.requests), sum(g.bytes), sum(g.billed_bytes)
        FROM usage g JOIN day_of d ON d.hour = g.hour GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;" | db_sql -separator $'\t'
}

# A small inventory and usage written in SQL: 3 servers, 4 users (one
# without account), October and November 2026.
fill_usage() {
    "$HOSTS" add tor1 --city Toronto --country CA --provider ovh
    "$HOSTS" add lon1 --city London --country GB --provider linode
    "$HOSTS" add par1 --city Paris --country FR --provider ovh
    db_sql <<'SQL'
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), (3, 'carol'), (4, 'dave');
INSERT INTO accounts(id, name, added_at) VALUES (1, 'acme', 0), (2, 'zeta', 0);
INSERT INTO account_assignments(user_id, from_hour, account_id, set_at) VALUES (1, 0, 1, 0), (2, 0, 1, 0), (4, 0, 2, 0);
WITH RECURSIVE h(t) AS (SELECT 1790812800 UNION ALL SELECT t + 3600 FROM h WHERE t < 1796083200 - 3600)
INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes)
SELECT s.id, u.id, h.t, 1 + (h.t / 3600 + s.id * 7 + u.id) % 5, 1000 * s.id + u.id * (h.t % 86400) / 3600,
       2 * (1000 * s.id + u.id * (h.t % 86400) / 3600)
FROM h, servers s, users u
WHERE (h.t / 3600 + s.id + u.id) % 3 <> 0;
-- all of it fetched from the origin (billed x2): its class split
INSERT INTO billing_classes(id, name, factor) VALUES (2, 'origin', 2);
INSERT INTO usage_classes(server_id, user_id, hour, class_id, requests, bytes, billed_bytes)
SELECT server_id, user_id, hour, 2, requests, bytes, billed_bytes FROM usage;
SQL
    db_fix_sequences users accounts billing_classes
    local days
    days=$(day_of_table UTC)
    printf '%s\n' "$days" "INSERT INTO dirty_days(server_id, day)
        SELECT DISTINCT g.server_id, d.day FROM usage g JOIN day_of d ON d.hour = g.hour;" | db_sql
}

@test "the hourly cycle: wp-parse then wp-rollup, silent; summary equals the store's sums and awk's per user and day" {
    "$HOSTS" add host1
    "$HOSTS" add host2
    # two days of traffic in one file each, starting 2025-11-25T00:00Z
    "$GEN" --lines 20000 --span 172800 --seed 5 >"$T/h1.log"
    "$GEN" --lines 8000 --span 172800 --seed 6 --users 40 >"$T/h2.log"
    spool_file host1 host1.a.log <"$T/h1.log"
    spool_file host2 host2.a.log <"$T/h2.log"
    "$PARSE"
    [ "$(db_sql 'SELECT count(*) FROM dirty_days')" -eq 4 ]

    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
    [ "$(db_sql 'SELECT count(*) FROM dirty_days')" -eq 0 ]
    usage_sums_tsv >"$T/expect"
    summary_tsv >"$T/got"
    [ -s "$T/expect" ]
    diff "$T/expect" "$T/got"

    # awk over the log lines, summed per (user, UTC day), against the report
    "$ORACLE" "$T/h1.log" | awk -F'\t' -v OFS='\t' '{ k = $1 "\t" int($2 / 86400); r[k] += $3; b[k] += $4; c[k] += $5 }
        END { for (k in r) print k, r[k], b[k], c[k] }' |
        python3 -c 'import sys, datetime
for line in sys.stdin:
    u, d, *rest = line.rstrip("\n").split("\t")
    print("\t".join([u, str(datetime.date(1970, 1, 1) + datetime.timedelta(days=int(d)))] + rest))' |
        LC_ALL=C sort >"$T/awk"
    run --separate-stderr "$ROLLUP" report --server host1 --by user,day
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf 'user\tday\trequests\tbytes\tbilled_bytes')" ]
    printf '%s\n' "${lines[@]:1}" | LC_ALL=C sort >"$T/report"
    diff "$T/awk" "$T/report"

    # nothing changed: a second run is silent and changes nothing
    before=$(summary_tsv)
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]
    [ "$(summary_tsv)" = "$before" ]
    run --separate-stderr "$ROLLUP" --verify # the summary still equals usage
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "a file that arrives 5 days late lands in its own day; only its server-day is recomputed" {
    "$HOSTS" add host1
    "$HOSTS" add host2
    "$GEN" --lines 6000 --span 86400 --start 1764460800 --seed 1 >"$T/today.log"  # 2025-11-30
    spool_file host1 host1.today.log <"$T/today.log"
    spool_file host2 host2.today.log <"$T/today.log"
    "$PARSE"
    "$ROLLUP"
    # host2 was down: its file of 2025-11-25 22:00Z..23:00Z comes now
    "$GEN" --lines 3000 --span 3600 --start 1764108000 --seed 2 >"$T/late.log"
    spool_file host2 host2.late.log <"$T/late.log"
    "$PARSE"
    run --separate-stderr "$ROLLUP" --dry-run
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'server\tday\nhost2\t2025-11-25')" ]
    [ "$(db_sql "SELECT count(*) FROM sum_usage_daily WHERE day = '2025-11-25'")" -eq 0 ]  # dry run
    "$ROLLUP"
    usage_sums_tsv >"$T/expect"
    summary_tsv >"$T/got"
    diff "$T/expect" "$T/got"
    # the late day's billed bytes per user are awk's
    "$ORACLE" "$T/late.log" | awk -F'\t' -v OFS='\t' '{ c[$1] += $5 } END { for (u in c) print u, c[u] }' |
        LC_ALL=C sort >"$T/awk"
    "$ROLLUP" report --day 2025-11-25 --by user --format csv |
        python3 -c 'import csv, sys
rows = list(csv.DictReader(sys.stdin))
for r in rows: print(r["user"] + "\t" + r["billed_bytes"])' | LC_ALL=C sort >"$T/report"
    diff "$T/awk" "$T/report"
    run --separate-stderr "$ROLLUP" --verify # the summary still equals usage
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "usage removed by hand: the day's rows go once the day is marked or a window covers it" {
    fill_usage
    "$ROLLUP"
    db_sql "DELETE FROM usage WHERE user_id = 2 AND hour >= 1791244800 AND hour < 1791331200;
        DELETE FROM usage_classes WHERE user_id = 2 AND hour >= 1791244800 AND hour < 1791331200"  # 2026-10-06
    db_sql "INSERT INTO dirty_days(server_id, day) VALUES (1, '2026-10-06')"
    "$ROLLUP"
    # only tor1 was marked: its rows for bob are gone, lon1's stay until a window covers them
    [ "$(db_sql "SELECT server_id FROM sum_usage_daily WHERE day = '2026-10-06' AND user_id = 2 ORDER BY 1" | paste -sd,)" = "2,3" ]
    "$ROLLUP" --since 2026-10-01
    usage_sums_tsv >"$T/expect"
    summary_tsv >"$T/got"
    diff "$T/expect" "$T/got"
    run --separate-stderr "$ROLLUP" --verify # the summary still equals usage
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "--tz America/Toronto: days follow DST (23 and 25 hours) and the zone is kept" {
    fill_usage
    run --separate-stderr "$ROLLUP" --tz America/Toronto
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]
    usage_sums_tsv America/Toronto >"$T/expect"
    summary_tsv >"$T/got"
    diff "$T/expect" "$T/got"
    # the hours with usage, by their day in the zone (date(1)'s reading): DST ends on 2026-11-01
    db_sql 'SELECT DISTINCT hour FROM usage' | sed 's/^/@/' | TZ=America/Toronto date -f - +%F >"$T/days"
    [ "$(grep -cx 2026-11-01 "$T/days")" -eq 25 ]
    [ "$(grep -cx 2026-11-02 "$T/days")" -eq 24 ]
    # the report follows the summary's zone without being told
    run "$ROLLUP" report --by hour --day 2026-11-01 --format tsv
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 26 ]  # header + 25 hours
    [ "${lines[1]%%$'\t'*}" = "2026-11-01T04:00:00Z" ]
    [ "${lines[25]%%$'\t'*}" = "2026-11-02T04:00:00Z" ]

    # a run in another zone is refused, the summary left alone
    db_sql "INSERT INTO dirty_days(server_id, day) VALUES (1, '2026-11-01')"
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"time zone America/Toronto, not UTC"*"--rebuild"* ]]
    diff "$T/expect" <(summary_tsv)
    run --separate-stderr "$ROLLUP" report --tz Europe/Paris --by day
    [ "$status" -eq 64 ]
    # rebuilding in UTC is the way back
    run --separate-stderr "$ROLLUP" --rebuild
    [ "$status" -eq 0 ]
    usage_sums_tsv >"$T/expect"
    diff "$T/expect" <(summary_tsv)
    [ "$(db_sql 'SELECT zone FROM rollup_state')" = "UTC" ]
    run --separate-stderr "$ROLLUP" --verify # the summary still equals usage
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "the invoice: --month --by account, one row per account, users without account last" {
    fill_usage
    "$ROLLUP"
    local oct nov
    oct=$(date -ud 2026-10-01 +%s)
    nov=$(date -ud 2026-11-01 +%s)
    expect=$(db_sql -separator $'\t' "SELECT coalesce(a.name, ''), sum(g.requests), sum(g.bytes), sum(g.billed_bytes)
        FROM usage g LEFT JOIN account_assignments x ON x.user_id = g.user_id LEFT JOIN accounts a ON a.id = x.account_id
        WHERE g.hour >= $oct AND g.hour < $nov
        GROUP BY a.name ORDER BY a.name IS NULL, a.name")
    run --separate-stderr "$ROLLUP" report --month 2026-10 --by account
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$output" = "$(printf 'account\trequests\tbytes\tbilled_bytes\n%s' "$expect")" ]
    [ "${lines[3]%%$'\t'*}" = "" ]  # carol's traffic, not dropped

    # on a terminal (forced): human sizes, '-' for no account, a total row
    run --separate-stderr "$ROLLUP" report --month 2026-10 --by account --format table
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "account  requests"*"bytes  billed_bytes" ]]
    [[ "${lines[3]}" == "-  "*" MiB"* ]]
    [[ "${lines[4]}" == "total "* ]]
    run --separate-stderr "$ROLLUP" report --month 2026-10 --by account --format table --si
    [[ "${lines[4]}" == *" MB" ]]

    # --account filters, several keys
    run --separate-stderr "$ROLLUP" report --month 2026-10 --account acme --by account,user
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    [ "${lines[1]%%$'\t'*}" = "acme" ]
    run --separate-stderr "$ROLLUP" --verify # the summary still equals usage
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "a user moved mid-month by wp-users: the next refresh bills the month's hours to each account by when they were used" {
    fill_usage
    "$ROLLUP"
    # bob (acme) moves to zeta from 2026-11-15T00:00Z (1794700800); November is closed
    run --separate-stderr "$BIN/wp-users" set bob --account zeta --from 2026-11-15 --amend-closed
    [ "$status" -eq 0 ]
    # every (server, UTC day) of bob's hours from then on is marked, nothing else
    [ "$(db_sql 'SELECT count(*) FROM dirty_days')" = "$(db_sql "SELECT count(*) FROM (SELECT DISTINCT
        server_id, hour / 86400 FROM usage WHERE user_id = 2 AND hour >= 1794700800) AS d")" ]
    "$ROLLUP"
    # the oracle: each user's account written out by hand, bob's by the hour of the move
    expect=$(db_sql -separator $'\t' "SELECT acct, sum(requests), sum(bytes), sum(billed_bytes) FROM (
        SELECT CASE user_id WHEN 1 THEN 'acme' WHEN 2 THEN (CASE WHEN hour < 1794700800 THEN 'acme' ELSE 'zeta' END)
               WHEN 4 THEN 'zeta' ELSE '' END AS acct, requests, bytes, billed_bytes FROM usage
        WHERE hour >= 1793491200 AND hour < 1796083200) AS x GROUP BY acct ORDER BY acct = '', acct")
    run --separate-stderr "$ROLLUP" report --month 2026-11 --by account
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'account\trequests\tbytes\tbilled_bytes\n%s' "$expect")" ]
    # the same figures as the statements read hour by hour
    for a in acme zeta; do
        billed=$(awk -F'\t' -v a="$a" '$1 == a { print $4 }' <<<"$output")
        [ "$("$ROLLUP" invoice --account "$a" --month 2026-11 --format tsv | awk -F'\t' '$4 == "total" && $6 == "all" { print $9 }')" = "$billed" ]
    done
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ]
}

@test "--verify finds hours filed under an account the user no longer held then (a change that marked nothing)" {
    fill_usage
    "$ROLLUP"
    # bob moved to zeta by hand in SQL: no day is marked, the summary still says acme
    db_sql "UPDATE account_assignments SET account_id = 2 WHERE user_id = 2"
    "$ROLLUP"
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-rollup: summary of 2026-10-01, server tor1, user bob, account acme, class origin: "*"; usage no row"$'\n'* ]]
    [[ "$stderr" == *$'\n'"wp-rollup: summary of 2026-10-01, server tor1, user bob, account zeta, class origin: no row; usage "* ]]
    # the rebuild the message names puts every hour under its account
    "$ROLLUP" --rebuild
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ]
    [ "$("$ROLLUP" report --month 2026-11 --by account | awk -F'\t' '$1 == "zeta" { print $4 }')" = \
        "$("$ROLLUP" invoice --account zeta --month 2026-11 --format tsv | awk -F'\t' '$4 == "total" && $6 == "all" { print $9 }')" ]
}

@test "tsv, csv and json have the grouping keys then requests, bytes, billed_bytes, exact" {
    fill_usage
    "$ROLLUP"
    local nov
    nov=$(date -ud 2026-11-01 +%s)
    total=$(db_sql "SELECT sum(billed_bytes) FROM usage WHERE hour >= $nov")
    run --separate-stderr "$ROLLUP" report --month 2026-11 --by country,city,provider,server,month --format tsv
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf 'country\tcity\tprovider\tserver\tmonth\trequests\tbytes\tbilled_bytes')" ]
    [ "$(printf '%s\n' "${lines[@]:1}" | awk -F'\t' '{ s += $8 } END { printf "%d", s }')" = "$total" ]
    [ "${lines[1]}" = "$(printf 'CA\tToronto\tovh\ttor1\t2026-11\t')$(db_sql -separator $'\t' \
        "SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage WHERE server_id = 1 AND hour >= $nov")" ]

    "$ROLLUP" report --month 2026-11 --by server,day --format csv >"$T/csv"
    python3 - "$T/csv" "$total" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["server", "day", "requests", "bytes", "billed_bytes"], rows[0]
assert len(rows) == 1 + 3 * 30, len(rows)
assert sum(int(r[4]) for r in rows[1:]) == int(sys.argv[2])
assert all(r[1].startswith("2026-11-") and len(r[1]) == 10 for r in rows[1:])
PY
    "$ROLLUP" report --by account,month --format json >"$T/json"
    python3 - "$T/json" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert list(rows[0]) == ["account", "month", "requests", "bytes", "billed_bytes"], rows[0]
assert all(isinstance(r["bytes"], int) for r in rows)
assert [r["account"] for r in rows] == ["acme", "acme", "zeta", "zeta", None, None], rows
assert [r["month"] for r in rows[:2]] == ["2026-10", "2026-11"]
PY
    # --top: most billed first
    run "$ROLLUP" report --by user --top 2 --format tsv
    [ "${#lines[@]}" -eq 3 ]
    [ "$(printf '%s\n' "${lines[@]:1}" | cut -f1 | tr '\n' ' ')" = "$(db_sql "SELECT u.name FROM usage g JOIN users u ON u.id = g.user_id
        GROUP BY u.name ORDER BY sum(billed_bytes) DESC LIMIT 2" | tr '\n' ' ')" ]
    # the same totals in every format: table's total row, TSV and JSON sums, the store's over usage
    read -r want_req want_billed < <(db_sql -separator ' ' "SELECT sum(requests), sum(billed_bytes) FROM usage")
    [ "$("$ROLLUP" report --by server --format tsv | awk -F'\t' 'NR > 1 { r += $2; b += $4 } END { printf "%d %d", r, b }')" = "$want_req $want_billed" ]
    [ "$("$ROLLUP" report --by server --format json | python3 -c 'import json,sys
rows = [json.loads(l) for l in sys.stdin]
print(sum(r["requests"] for r in rows), sum(r["billed_bytes"] for r in rows))')" = "$want_req $want_billed" ]
    [ "$("$ROLLUP" report --by server --format table | awk '$1 == "total" { print $2 }')" = "$want_req" ]
    [ "$("$ROLLUP" report --format tsv | awk -F'\t' 'NR == 2 { print $1, $3 }')" = "$want_req $want_billed" ]
    run --separate-stderr "$ROLLUP" --verify # the summary still equals usage
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "--totals: the site's figures over active servers; pending dirty days noted in one line" {
    fill_usage
    "$HOSTS" add old1 --city Berlin --country DE
    "$HOSTS" retire old1
    "$HOSTS" add spare1 --city Madrid --country ES --inactive
    "$ROLLUP"
    local oct nov
    oct=$(date -ud 2026-10-01 +%s)
    nov=$(date -ud 2026-11-01 +%s)
    run --separate-stderr "$ROLLUP" report --totals --month 2026-10
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "${lines[0]}" = "$(printf 'servers\tcountries\tcities\tmonth\tmonth_bytes\ttotal_bytes')" ]
    [ "${lines[1]}" = "$(printf '3\t3\t3\t2026-10\t%s\t%s' \
        "$(db_sql "SELECT sum(bytes) FROM usage WHERE hour >= $oct AND hour < $nov")" \
        "$(db_sql 'SELECT sum(bytes) FROM usage')")" ]
    db_sql "INSERT INTO dirty_days(server_id, day) VALUES (1, '2026-10-09'), (2, '2026-10-09')"
    run --separate-stderr "$ROLLUP" report --totals
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
    [[ "$stderr" == *"2 server-days"*"run wp-rollup"* ]]
    run --separate-stderr "$ROLLUP" -q report --totals
    [ -z "$stderr" ]
    run --separate-stderr "$ROLLUP" --verify # the summary still equals usage
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "--verify: 0 when true, 1 with the differing rows on stderr after a corruption" {
    fill_usage
    "$ROLLUP"
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]
    db_sql "UPDATE sum_usage_daily SET billed_bytes = billed_bytes + 1 WHERE day = '2026-10-20' AND server_id = 2 AND user_id = 4"
    db_sql "DELETE FROM sum_usage_daily WHERE day = '2026-11-03' AND server_id = 3 AND user_id = 1"
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"2026-10-20 lon1 dave: summary "*"usage "* ]]
    [[ "$stderr" == *"2026-11-03 par1 alice: summary no row; usage "* ]]
    [[ "$stderr" == *"2 summary rows differ"* ]]
    # --verify changed nothing; a window repairs
    run "$ROLLUP" --verify
    [ "$status" -eq 1 ]
    "$ROLLUP" --since 2026-10-01
    run "$ROLLUP" --verify
    [ "$status" -eq 0 ]
}

@test "exit codes: 64 bad --by / --tz / options, 66 no database or unknown name" {
    run --separate-stderr "$ROLLUP" report --by account
    [ "$status" -eq 66 ]
    fill_usage
    "$ROLLUP"
    run --separate-stderr "$ROLLUP" report --by planet
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"unknown key 'planet'"* ]]
    run --separate-stderr "$ROLLUP" --tz Mars/Olympus_Mons
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"unknown time zone 'Mars/Olympus_Mons'"* ]]
    run --separate-stderr "$ROLLUP" --tz ../../../etc/passwd
    [ "$status" -eq 64 ]
    run --separate-stderr "$ROLLUP" report --rebuild
    [ "$status" -eq 64 ]
    run --separate-stderr "$ROLLUP" --days 3 --since 2026-10-01
    [ "$status" -eq 64 ]
    run --separate-stderr "$ROLLUP" --since 2026-02-30
    [ "$status" -eq 64 ]
    run --separate-stderr "$ROLLUP" report --month 2026-10 --from 2026-10-02
    [ "$status" -eq 64 ]
    run --separate-stderr "$ROLLUP" report --by hour
    [ "$status" -eq 64 ]
    run --separate-stderr "$ROLLUP" report --format xml
    [ "$status" -eq 64 ]
    run --separate-stderr "$ROLLUP" report --server nosuch
    [ "$status" -eq 66 ]
    [[ "$stderr" == *"no server named 'nosuch'"* ]]
}

# PostgreSQL has no lock file: another collector's refresh holds the marks it
# works on (FOR UPDATE). A refresh meanwhile takes the other marks without
# waiting, and leaves the held ones, which the next refresh takes.
refresh_beside_held_marks() {
    fill_usage
    "$ROLLUP"
    db_sql "INSERT INTO dirty_days(server_id, day) VALUES (1, '2026-10-09'), (2, '2026-10-09'), (3, '2026-10-10')"
    pg_hold_session "BEGIN;" "SELECT day FROM dirty_days WHERE server_id = 1 FOR UPDATE;"
    # held: another session skipping locked rows no longer sees it
    db_wait_for 0 "SELECT count(*) FROM (SELECT 1 FROM dirty_days WHERE server_id = 1 FOR UPDATE SKIP LOCKED) AS m"
    # no wait: timeout would end a refresh that waited on the held mark
    run --separate-stderr timeout 20 "$ROLLUP"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$(db_sql 'SELECT server_id, day FROM dirty_days')" = "1|2026-10-09" ]
    run --separate-stderr "$ROLLUP" report --totals
    [ "$status" -eq 0 ]
    printf '%s\n' "COMMIT;" >&9
    exec 9>&-
    wait
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 0 ]
    [ "$(db_sql 'SELECT count(*) FROM dirty_days')" -eq 0 ]
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

# PostgreSQL grants reading by role: a role that may only read reports and
# reads the site's views; a refresh under it is refused (77), changing nothing.
report_as_reader_role() {
    fill_usage
    "$ROLLUP"
    local role=${TEST_PG_DB}_reader
    db_sql "CREATE ROLE $role LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO $role"
    local reader_db=${DB/:\/\/wp@/:\/\/$role@}
    run --separate-stderr "$ROLLUP" --db "$reader_db" report --month 2026-10 --by account
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "${#lines[@]}" -eq 4 ]
    [ "$(psql -X -A -t -d "$reader_db" -c "SELECT sum(billed_bytes) FROM wp_invoice_lines WHERE month = '2026-10'")" = \
        "$(db_sql "SELECT sum(billed_bytes) FROM usage WHERE hour >= $(date -ud 2026-10-01 +%s) AND hour < $(date -ud 2026-11-01 +%s)")" ]
    db_sql "INSERT INTO dirty_days(server_id, day) VALUES (1, '2026-10-09')"
    run --separate-stderr "$ROLLUP" --db "$reader_db"
    [ "$status" -eq 77 ]
    [[ $stderr == *"permission denied"* ]]
    [ "$(db_sql 'SELECT count(*) FROM dirty_days')" -eq 1 ]
    db_sql "DROP OWNED BY $role; DROP ROLE $role"
    # the site's role of wp(7), granted exactly the views: it reads them, and
    # neither the tables behind them nor a write
    local site=${TEST_PG_DB}_site
    db_sql "CREATE ROLE $site LOGIN; GRANT CONNECT ON DATABASE $TEST_PG_DB TO $site; GRANT USAGE ON SCHEMA public TO $site;
        GRANT SELECT ON wp_usage_daily, wp_usage_daily_by_class, wp_invoice_lines, wp_servers, wp_accounts,
        wp_summary_state TO $site"
    local site_db=${DB/:\/\/wp@/:\/\/$site@}
    [ "$(psql -X -A -t -F ' ' -d "$site_db" -c "SELECT count(*), sum(billed_bytes) FROM wp_usage_daily")" = \
        "$(db_sql -separator ' ' 'SELECT count(*), sum(billed_bytes) FROM sum_usage_daily')" ]
    [ "$(psql -X -A -t -d "$site_db" -c "SELECT string_agg(name, ',' ORDER BY name) FROM wp_servers")" = lon1,par1,tor1 ]
    [ "$(psql -X -A -t -d "$site_db" -c "SELECT zone FROM wp_summary_state")" = UTC ]
    run psql -X -A -t -d "$site_db" -c "SELECT count(*) FROM usage"
    [ "$status" -ne 0 ]
    [[ $output == *"permission denied for table usage"* ]]
    run psql -X -A -t -d "$site_db" -c "DELETE FROM wp_servers"
    [ "$status" -ne 0 ]
    [[ $output == *"permission denied"* ]]
    db_sql "DROP OWNED BY $site; DROP ROLE $site"
}

@test "exit code 75 while another run holds the lock; reports take none" {
    if db_is_postgresql; then
        refresh_beside_held_marks
        return
    fi
    fill_usage
    "$ROLLUP"
    exec 9>"$DB.rollup.lock"
    flock -n 9
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 75 ]
    [[ "$stderr" == *"another run holds the lock"* ]]
    # reports take no lock
    run --separate-stderr "$ROLLUP" report --totals
    [ "$status" -eq 0 ]
    exec 9>&-
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 0 ]
}

@test "a report on a database it may not write opens it read-only" {
    if db_is_postgresql; then
        report_as_reader_role
        return
    fi
    [ "$(id -u)" -ne 0 ] || command -v setpriv >/dev/null || skip "needs setpriv to drop root"
    fill_usage
    "$ROLLUP"
    chmod 755 "$T"
    chmod 644 "$DB"
    as_nobody=()
    [ "$(id -u)" -ne 0 ] || as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    # the build directory may sit below one nobody cannot enter (mktemp -d is
    # 0700): nobody runs a copy of the tool from $T
    local rollup=$T/wp-rollup
    cp "$ROLLUP" "$rollup"
    chmod 755 "$rollup"
    # while a writer has the database open, its -shm exists and a reader can use it
    sqlite3 "$DB" "PRAGMA journal_mode" >/dev/null
    exec 8> >(sqlite3 "$DB" >/dev/null)
    echo "BEGIN; SELECT count(*) FROM users;" >&8
    for i in $(seq 50); do [ -e "$DB-shm" ] && break; sleep 0.1; done
    chmod 644 "$DB-shm" "$DB-wal"
    run --separate-stderr "${as_nobody[@]}" env WP_CONFIG="$WP_CONFIG" "$rollup" report --month 2026-10 --by account
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "${#lines[@]}" -eq 4 ]
    exec 8>&-
    sleep 0.2
    # with no connection open, the WAL index is gone and the WAL empty: the
    # file alone holds every commit and is read as it is
    for i in $(seq 50); do [ -e "$DB-shm" ] || break; sleep 0.1; done
    [ ! -e "$DB-shm" ]
    [ ! -e "$DB-wal" ]
    run --separate-stderr "${as_nobody[@]}" env WP_CONFIG="$WP_CONFIG" "$rollup" report --month 2026-10 --by account
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "${#lines[@]}" -eq 4 ]
    [ ! -e "$DB-shm" ]
    # a database it may not read at all: permission denied, naming the file
    chmod 600 "$DB"
    run --separate-stderr "${as_nobody[@]}" env WP_CONFIG="$WP_CONFIG" "$rollup" report --month 2026-10 --by account
    [ "$status" -eq 77 ]
    [ "$stderr" = "wp-rollup: cannot read database $DB: Permission denied" ]
}

@test "report --country matches the code in either case" {
    fill_usage
    "$ROLLUP"
    run --separate-stderr "$ROLLUP" report --month 2026-11 --by server --country CA,gb --format tsv
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(printf '%s\n' "${lines[@]}" | cut -f1 | tr '\n' ' ')" = "server lon1 tor1 " ]
    expect=$output
    run --separate-stderr "$ROLLUP" report --month 2026-11 --by server --country ca,GB --format tsv
    [ "$status" -eq 0 ]
    [ "$output" = "$expect" ]
    run --separate-stderr "$ROLLUP" report --month 2026-11 --country Canada
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-rollup: --country: 'Canada' is not an ISO 3166-1 alpha-2 country code (two letters, e.g. CA)" ]
}

@test "refreshes and reports never create a database: a mistyped --db is 66" {
    for args in "" "--days 2" "--verify" "report --totals"; do
        # shellcheck disable=SC2086
        run --separate-stderr "$ROLLUP" --db "$T/typo.db" $args
        [ "$status" -eq 66 ] || { echo "$args -> $status $stderr"; false; }
        [ "$stderr" = "wp-rollup: no database at $T/typo.db: a new installation makes one by adding its first server ('wp-hosts add NAME --address ADDRESS'); else give --db or db = in wp.conf (see wp(7))" ]
        [ -z "$(ls "$T" | grep typo)" ]
    done
}

@test "--since a day in the future is refused, saying so" {
    fill_usage
    "$ROLLUP"
    run --separate-stderr "$ROLLUP" --since 2999-01-01
    [ "$status" -eq 64 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-rollup: --since: 2999-01-01 is in the future (today is $(date -u +%F) in UTC)" ]
    run --separate-stderr "$ROLLUP" --since "$(date -u +%F)"
    [ "$status" -eq 0 ]
}

@test "an unknown command is named, with the commands there are" {
    run --separate-stderr "$ROLLUP" reprot --month 2026-11
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "wp-rollup: unknown command 'reprot': the commands are report, invoice, quota" ]
}
