#!/usr/bin/env bats
# A database written by the previous release (schema 3, tests/fixtures/schema-3)
# migrated by today's tools. Oracles: the rows as sqlite3 read them before the
# migration, the reports that release printed, awk's bill of new lines.
bats_require_minimum_version 1.5.0
load site

setup() {
    make_test_site wp-migration-bats
    ROLLUP=$BIN/wp-rollup
    USERS=$BIN/wp-users
    FIX=$SRC/tests/fixtures/schema-3
    sqlite3 "$DB" <"$FIX/wp.sql"
    # The fixture is the database alone: its archive files are not carried, so
    # their committed lengths go (else wp-parse rightly refuses to append).
    sqlite3 "$DB" 'DELETE FROM archive_files'
    [ "$(sqlite3 "$DB" 'PRAGMA user_version')" -eq 3 ]
    # what schema 3 held, read before any of today's tools opens it
    sqlite3 -separator $'\t' "$DB" 'SELECT * FROM usage ORDER BY server_id, user_id, hour' >"$T/usage.before"
    sqlite3 -separator $'\t' "$DB" 'SELECT * FROM sum_usage_daily ORDER BY day, server_id, user_id' >"$T/daily.before"
    sqlite3 -separator $'\t' "$DB" 'SELECT * FROM ingested_files ORDER BY id' >"$T/ledger.before"
    sqlite3 -separator $'\t' "$DB" "SELECT name, account FROM users WHERE account IS NOT NULL ORDER BY name" \
        >"$T/accounts.before"
    [ "$(wc -l <"$T/usage.before")" -eq 732 ]
    [ "$(wc -l <"$T/accounts.before")" -eq 7 ]
}

teardown() {
    rm -rf "$T"
}

@test "schema 3 migrates on first use: every usage, summary and ledger row kept, accounts moved, the split 'unsplit'" {
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$output$stderr" ]
    [ "$(sqlite3 "$DB" 'PRAGMA user_version')" -eq 6 ]
    diff "$T/usage.before" <(sqlite3 -separator $'\t' "$DB" 'SELECT * FROM usage ORDER BY server_id, user_id, hour')
    diff "$T/daily.before" <(sqlite3 -separator $'\t' "$DB" 'SELECT * FROM sum_usage_daily ORDER BY day, server_id, user_id')
    diff "$T/ledger.before" <(sqlite3 -separator $'\t' "$DB" 'SELECT id, sha256, server_id, source_name, lines, rejected, first_ts, last_ts, ingested_at, first_line_sha256 FROM ingested_files ORDER BY id')
    # each row's split is one class, 'unsplit' (no factor), holding the row's own counts
    diff "$T/usage.before" <(sqlite3 -separator $'\t' "$DB" "SELECT g.server_id, g.user_id, g.hour, g.requests, g.bytes,
        g.billed_bytes FROM usage_classes g JOIN billing_classes c ON c.id = g.class_id
        WHERE c.name = 'unsplit' AND c.factor IS NULL ORDER BY 1, 2, 3")
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM usage_classes')" -eq 732 ]
    diff "$T/daily.before" <(sqlite3 -separator $'\t' "$DB" "SELECT g.day, g.server_id, g.user_id, g.requests, g.bytes,
        g.billed_bytes FROM sum_usage_daily_class g JOIN billing_classes c ON c.id = g.class_id
        WHERE c.name = 'unsplit' ORDER BY 1, 2, 3")
    # users.account became accounts held since the beginning (hour 0)
    diff "$T/accounts.before" <(sqlite3 -separator $'\t' "$DB" "SELECT u.name, a.name FROM account_assignments x
        JOIN users u ON u.id = x.user_id JOIN accounts a ON a.id = x.account_id WHERE x.from_hour = 0 ORDER BY u.name")
    [ "$(sqlite3 "$DB" 'SELECT group_concat(name) FROM (SELECT name FROM accounts ORDER BY name)')" = "acme,zeta" ]
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'account'")" -eq 0 ]
    # the same totals as before
    [ "$(sqlite3 "$DB" 'SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage')" = "5000|10157703|14899904" ]
}

@test "the migrated database prints the reports the previous release printed, byte for byte" {
    run --separate-stderr "$ROLLUP" report --month 2025-11 --by account
    [ "$status" -eq 0 ]
    [ "$output" = "$(cat "$FIX/report-by-account.tsv")" ]
    run --separate-stderr "$ROLLUP" report --by account,day --format csv
    [ "$output" = "$(cat "$FIX/report-by-account-day.csv")" ]
    run --separate-stderr "$ROLLUP" report --by user,server
    [ "$output" = "$(cat "$FIX/report-by-user-server.tsv")" ]
    run --separate-stderr "$ROLLUP" report --totals --month 2025-11
    [ "$output" = "$(cat "$FIX/report-totals.tsv")" ]
    # the invoice of a month billed before the split: the report's total, all of it 'unsplit'
    run --separate-stderr "$ROLLUP" invoice --account acme --month 2025-11 --format tsv
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "${lines[@]}" | awk -F'\t' '$4 == "total"')" = "$(printf \
        'acme\t2025-11\tUTC\ttotal\ttotal\tunsplit\t3359\t5879278\t9355463\nacme\t2025-11\tUTC\ttotal\ttotal\tall\t3359\t5879278\t9355463')" ]
    # wp-users sees the moved accounts
    run --separate-stderr "$USERS" accounts --format tsv
    [ "$status" -eq 0 ]
    [ "${lines[1]%%$'\t'*}" = acme ]
    [ "${lines[2]%%$'\t'*}" = zeta ]
}

@test "after the migration new logs add class rows beside the unsplit ones; totals are old plus awk's, the identity holds" {
    "$BIN/wp-rollup" --verify
    # the same hours again, from another file of tor1
    "$GEN" --lines 1500 --span 259200 --seed 21 --users 12 >"$T/more.log"
    spool_file tor1 tor1.b.log <"$T/more.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 0 ]
    local awk_sum
    awk_sum=$("$ORACLE" "$T/more.log" | awk -F'\t' '{ r += $3; b += $4; bb += $5 } END { printf "%d|%d|%d", r, b, bb }')
    read -r r b bb < <(echo "$awk_sum" | tr '|' ' ')
    [ "$(sqlite3 "$DB" 'SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage')" = \
        "$((5000 + r))|$((10157703 + b))|$((14899904 + bb))" ]
    # unsplit rows are untouched; the new lines are split by class at their factors
    [ "$(sqlite3 "$DB" "SELECT sum(g.requests) FROM usage_classes g JOIN billing_classes c ON c.id = g.class_id
        WHERE c.name = 'unsplit'")" -eq 5000 ]
    [ "$(sqlite3 "$DB" "SELECT sum(g.requests), sum(g.bytes), sum(g.billed_bytes) FROM usage_classes g
        JOIN billing_classes c ON c.id = g.class_id WHERE c.factor IS NOT NULL")" = "$r|$b|$bb" ]
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM usage_classes g JOIN billing_classes c ON c.id = g.class_id
        WHERE c.factor IS NOT NULL AND g.billed_bytes <> g.bytes * c.factor")" -eq 0 ]
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    # one origin row billed a byte more, its usage row too: the sums agree, the factor does not
    sqlite3 "$DB" "UPDATE usage_classes SET billed_bytes = billed_bytes + 1 WHERE (server_id, user_id, hour, class_id) =
            (SELECT g.server_id, g.user_id, g.hour, g.class_id FROM usage_classes g JOIN billing_classes c
             ON c.id = g.class_id WHERE c.name = 'origin' ORDER BY 1, 2, 3 LIMIT 1);
        UPDATE usage SET billed_bytes = billed_bytes + 1 WHERE (server_id, user_id, hour) =
            (SELECT g.server_id, g.user_id, g.hour FROM usage_classes g JOIN billing_classes c
             ON c.id = g.class_id WHERE c.name = 'origin' ORDER BY 1, 2, 3 LIMIT 1)"
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-rollup: usage of server tor1, user "*", hour "*": class origin x2 holds "*" bytes but "*" billed"$'\n'* ]]
    # ...and the summary's split of that day no longer equals the hours'
    [[ "$stderr" == *$'\n'"wp-rollup: summary of "*", server tor1, user "*", account (none), class origin: "*"; usage "*$'\n'* ]]
    [[ "$stderr" == *$'\n'"wp-rollup: 2 rows break the class split "*$'\n'* ]]
}

@test "a verify that finds a broken split says which row and exits 1" {
    "$ROLLUP" --verify
    sqlite3 "$DB" "UPDATE usage_classes SET bytes = bytes + 1 WHERE (server_id, user_id, hour) =
        (SELECT server_id, user_id, hour FROM usage_classes ORDER BY 1, 2, 3 LIMIT 1)"
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"wp-rollup: usage of server "*", user "*", hour "*": requests/bytes/billed "*", its classes "* ]]
    [[ "$stderr" == *$'\n'"wp-rollup: summary of "*", class unsplit: "*"; usage "*$'\n'* ]]
    [[ "$stderr" == *$'\n'"wp-rollup: 2 rows break the class split (usage = its classes, billed = bytes x factor, the summary's split = the hours' under their accounts); wp-rollup --rebuild recomputes the summary's" ]]
}

@test "a legacy account value no account name can be stops the migration with 65, naming it and the repair; nothing changes" {
    sqlite3 "$DB" "UPDATE users SET account = 'ACME Corp' WHERE account = 'acme'"
    before=$(sqlite3 "$DB" .dump)
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 65 ]
    [ "$stderr" = "wp-rollup: database $DB: users.account holds 1 value an account name cannot be ('ACME Corp' (4 users, e.g. 'user000')): letters, digits and . _ @ + -, first a letter or digit; rename them with sqlite3 (UPDATE users SET account = 'NEW' WHERE account = 'OLD') and run again" ]
    [ "$(sqlite3 "$DB" 'PRAGMA user_version')" -eq 3 ]
    [ "$(sqlite3 "$DB" .dump)" = "$before" ]
    # repaired as the message says, the migration goes through
    sqlite3 "$DB" "UPDATE users SET account = 'ACME-Corp' WHERE account = 'ACME Corp'"
    run --separate-stderr "$ROLLUP" --verify
    [ "$status" -eq 0 ]
    [ "$(sqlite3 "$DB" 'SELECT group_concat(name) FROM (SELECT name FROM accounts ORDER BY name)')" = "ACME-Corp,zeta" ]
}
