#!/usr/bin/env bats
# wp-hosts migrate-db: an SQLite installation, made by the tools themselves
# (wp-hosts, wp-parse of generated and hand-written logs, wp-users, wp-rollup),
# copied into an empty PostgreSQL database. Oracles: sqlite3 and psql, each
# summing its own store; the tools' outputs on either store compared byte for
# byte. Needs the tests' PostgreSQL cluster (ctest's fixture pg exports
# WP_TEST_PG=postgresql://wp@ADDR:PORT/postgres).
bats_require_minimum_version 1.5.0
load site

setup() {
    [ -n "${WP_TEST_PG:-}" ] ||
        skip "WP_TEST_PG is not set: migrate-db needs a PostgreSQL cluster (ctest's fixture pg, or tests/tools/pg-cluster)"
    command -v psql >/dev/null || skip "psql is not installed (Debian package postgresql-client)"
    WP_TEST_DB=sqlite make_test_site wp-migrate-db-bats
    ROLLUP=$BIN/wp-rollup
    USERS=$BIN/wp-users
    RULES=$SRC/share/billing.rules
    TARGET_NAME=wpt_mig_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    psql -X -q -v ON_ERROR_STOP=1 -d "$WP_TEST_PG" -c "CREATE DATABASE $TARGET_NAME"
    TARGET=${WP_TEST_PG%/*}/$TARGET_NAME
}

teardown() {
    if [ -n "${TARGET_NAME:-}" ]; then
        psql -X -q -v ON_ERROR_STOP=1 -d "$WP_TEST_PG" -c "DROP DATABASE IF EXISTS $TARGET_NAME WITH (FORCE)"
    fi
    if [ -n "${T:-}" ]; then
        drop_test_site
    fi
}

# target_sql SQL: psql on the target, printed as sqlite3 prints (| between columns)
target_sql() {
    psql -X -A -t -q -v ON_ERROR_STOP=1 -F '|' -d "$TARGET" -c "$1"
}

# The tables migrate-db copies, and what is summed of each beyond its rows.
MIG_TABLES="servers host_status users accounts account_assignments billing_classes usage usage_classes
    ingested_files archive_files dirty_days sum_usage_daily sum_usage_daily_class rollup_state"

# mig_figures_sql: one line per table, "table|rows|sums...", in SQL both stores read
mig_figures_sql() {
    local t sums sql=
    for t in $MIG_TABLES; do
        case $t in
            usage | usage_classes | sum_usage_daily | sum_usage_daily_class)
                sums=", coalesce(sum(requests), 0), coalesce(sum(bytes), 0), coalesce(sum(billed_bytes), 0)" ;;
            ingested_files) sums=", coalesce(sum(lines), 0), coalesce(sum(rejected), 0)" ;;
            *) sums= ;;
        esac
        sql+="SELECT '$t', count(*)$sums FROM $t;"
    done
    echo "$sql"
}

# mig_rows_sql: every row of the tables but usage and the summary, as both
# stores print them (each table's columns in a fixed order, rows sorted;
# text as it is, tabs and newlines included)
mig_rows_sql() {
    cat <<'SQL'
SELECT 'servers', id, name, address, port, ssh_user, city, country, provider, virt, active, log_path, rotate_cmd, added_at, retired_at, notes, collector FROM servers ORDER BY id;
SELECT 'host_status', server_id, last_contact, last_error, last_error_at, consecutive_failures, clock_offset_ms, clock_uncertainty_ms, clock_measured_at, last_fetch FROM host_status ORDER BY server_id;
SELECT 'users', id, name FROM users ORDER BY id;
SELECT 'accounts', id, name, quota_bytes, added_at FROM accounts ORDER BY id;
SELECT 'account_assignments', user_id, from_hour, account_id, set_at FROM account_assignments ORDER BY user_id, from_hour;
SELECT 'billing_classes', id, name, factor FROM billing_classes ORDER BY id;
SELECT 'ingested_files', id, sha256, server_id, source_name, lines, rejected, first_ts, last_ts, ingested_at, first_line_sha256, collector FROM ingested_files ORDER BY id;
SELECT 'archive_files', path, committed_size, collector FROM archive_files ORDER BY collector, path;
SELECT 'dirty_days', server_id, day FROM dirty_days ORDER BY server_id, day;
SELECT 'rollup_state', id, zone, rebuilt_at, refreshed_at FROM rollup_state;
SQL
}

# A month of traffic on three servers (October 2026, 12 hours either side),
# accounts and a quota, the summary, and a few files billed after it (days
# still marked); host_status as wp-fetchlogs would leave it, with a tab, a
# newline and a backslash in an error.
mig_populate() {
    "$HOSTS" add tor1 --city Toronto --country CA --provider ovh --notes 'rack 4\5, "the old one"'
    "$HOSTS" add lon1 --country GB --port 2222 --ssh-user ops
    "$HOSTS" add nowhere --virt kvm
    "$HOSTS" add old1 --collector north
    "$HOSTS" retire old1
    "$GEN" --lines 12000 --start 1790769600 --span 2764800 --seed 31 --users 10 >"$T/tor1.log"
    "$GEN" --lines 6000 --start 1790769600 --span 2764800 --seed 32 --users 6 --garbage 5 >"$T/lon1.log"
    head -n 6000 "$T/tor1.log" | spool_file tor1 tor1.a.log
    tail -n +6001 "$T/tor1.log" | spool_file tor1 tor1.b.log
    spool_file lon1 lon1.log <"$T/lon1.log"
    spool_file nowhere nowhere.log <<'EOF'
1790812800.000     12 192.0.2.9 TCP_MISS/200 6200 GET http://a.example/oct user000 HIER_DIRECT/203.0.113.1 text/html
1790830800.123    150 192.0.2.7 TCP_REDIRECT/302 420 GET http://a.example/r tab%09user HIER_NONE/- text/html
1790834400.000     40 192.0.2.7 TCP_MISS/200 380 GET http://a.example/r2 eve%3Cb%3E HIER_DIRECT/203.0.113.1 text/html
1790838000.000      3 192.0.2.7 TCP_MISS/200 9100 GET http://a.example/b back%5Cslash HIER_DIRECT/203.0.113.1 text/html
1790841600.000     30 192.0.2.7 TCP_MEM_HIT/200 5120 GET http://a.example/cf m%C3%BCller HIER_NONE/- image/png
1792022400.000     70 192.0.2.7 TCP_MISS/200 2000000 GET http://a.example/after user002 HIER_DIRECT/203.0.113.2 text/html
EOF
    run --separate-stderr "$PARSE" --rules "$RULES"
    [ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
    printf '%s\n' user,account,from user000,acme,1970-01-01 user001,acme,1970-01-01 user002,acme,1970-01-01 \
        user002,zeta,2026-10-15T00:00Z user003,zeta,1970-01-01 back\\slash,zeta,2026-10-10T00:00Z >"$T/users.csv"
    "$USERS" import --amend-closed "$T/users.csv" 2>/dev/null
    "$USERS" quota acme 10GiB
    run --separate-stderr "$ROLLUP"
    [ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
    # billed after the summary: two server-days wait for the next refresh
    "$GEN" --lines 500 --start 1793491200 --span 86400 --seed 33 --users 4 | spool_file lon1 lon1.nov.log
    "$GEN" --lines 300 --start 1793491200 --span 86400 --seed 34 --users 3 | spool_file tor1 tor1.nov.log
    run --separate-stderr "$PARSE" --rules "$RULES"
    [ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
    sqlite3 "$DB" "INSERT INTO host_status(server_id, last_contact, last_error, last_error_at, consecutive_failures,
            clock_offset_ms, clock_uncertainty_ms, clock_measured_at, last_fetch)
        VALUES (1, 1793491000, 'ssh: ' || char(9) || 'refused' || char(10) || 'again \\ later', 1793491100, 2,
                -1250, 40, 1793490000, 1793480000),
               (2, 1793491000, NULL, NULL, 0, 30010, 10, 1793490500, 1793491000)"
}

# mig_same ARGS...: wp tool ARGS on the SQLite store and on the target give
# the same status and the same standard output, which is not empty
mig_same() {
    local tool=$1
    shift
    run --separate-stderr "$BIN/$tool" --db "$DB" "$@"
    local sqlite_status=$status sqlite_out=$output sqlite_err=$stderr
    run --separate-stderr "$BIN/$tool" --db "$TARGET" "$@"
    if [ "$status" -ne "$sqlite_status" ] || [ "$output" != "$sqlite_out" ] || [ -z "$sqlite_out" ]; then
        echo "$tool $*: SQLite: status $sqlite_status, stderr '$sqlite_err'; PostgreSQL: status $status, stderr '$stderr'"
        diff <(printf '%s\n' "$sqlite_out") <(printf '%s\n' "$output") || true
        return 1
    fi
}

# mig_target_schema: the schema made in the empty $TARGET, nothing else: a
# wp-parse run (it makes a database's schema) over an empty spool and archive
mig_target_schema() {
    mkdir -p "$T/none/spool" "$T/none/archive"
    "$PARSE" --db "$TARGET" --spool "$T/none/spool" --archive "$T/none/archive" --rejects "$T/none/rejects"
    [ "$(target_sql 'SELECT version FROM wp_schema')" -eq 6 ]
}

@test "the migration of a populated SQLite database gives identical report outputs on both stores" {
    mig_populate
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM dirty_days')" -eq 2 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files WHERE rejected > 0')" -ge 1 ]

    sqlite3 "$DB" "$(mig_figures_sql)" >"$T/figures"
    run --separate-stderr "$HOSTS" migrate-db --to "$TARGET"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$output$stderr" ]
    diff "$T/figures" <(sqlite3 "$DB" "$(mig_figures_sql)") # the source as it was

    # the foreign keys set aside for the copy are back, all of them
    [ "$(target_sql "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated")" -eq 15 ]
    # every table: the same rows and sums, each store summing its own
    diff <(sqlite3 "$DB" "$(mig_figures_sql)") <(target_sql "$(mig_figures_sql)")
    # the same rows, ids kept, text with tabs, newlines and backslashes intact
    diff <(sqlite3 "$DB" "$(mig_rows_sql)") <(target_sql "$(mig_rows_sql)")
    [ "$(target_sql "SELECT count(*) FROM users WHERE name IN ('tab' || chr(9) || 'user', 'back\\slash', 'müller')")" -eq 3 ]
    [ "$(target_sql "SELECT notes FROM servers WHERE name = 'tor1'")" = 'rack 4\5, "the old one"' ]
    [ "$(target_sql "SELECT last_error FROM host_status WHERE server_id = 1")" = $'ssh: \trefused\nagain \\ later' ]
    # the usage itself, row for row
    diff <(sqlite3 "$DB" 'SELECT server_id, user_id, hour, class_id, requests, bytes, billed_bytes
            FROM usage_classes ORDER BY 1, 2, 3, 4') \
        <(target_sql 'SELECT server_id, user_id, hour, class_id, requests, bytes, billed_bytes
            FROM usage_classes ORDER BY 1, 2, 3, 4')
    diff <(sqlite3 "$DB" 'SELECT * FROM sum_usage_daily_class ORDER BY 1, 2, 3, 4, 5') \
        <(target_sql 'SELECT * FROM sum_usage_daily_class ORDER BY 1, 2, 3, 4, 5')

    mig_same wp-rollup report --month 2026-10 --by user --format tsv
    mig_same wp-rollup report --month 2026-10 --by server --format tsv
    mig_same wp-rollup report --month 2026-10 --by account --format tsv
    mig_same wp-rollup report --month 2026-10 --by day,country,provider --format tsv
    mig_same wp-rollup report --by month,user --format tsv
    mig_same wp-rollup report --month 2026-10 --totals --format tsv
    mig_same wp-rollup invoice --account acme --month 2026-10 --format tsv
    mig_same wp-rollup invoice --account zeta --month 2026-10 --format json
    mig_same wp-rollup invoice --unassigned --month 2026-10 --format tsv
    mig_same wp-rollup --dry-run
    mig_same wp-hosts list --all --format tsv
    mig_same wp-hosts status --format tsv
    mig_same wp-hosts show tor1 --format tsv
    mig_same wp-users list --format tsv
    mig_same wp-users accounts --format tsv
    mig_same wp-users show user002 --format tsv
    # --verify: the summary holds on both, the days still marked left out alike
    for db in "$DB" "$TARGET"; do
        run --separate-stderr "$ROLLUP" --db "$db" --verify
        [ "$status" -eq 0 ] && [ -z "$output" ] || { echo "$status: $output $stderr"; false; }
        [ "$stderr" = "wp-rollup: 2 server-days wait for a refresh and were not compared" ] || { echo "$stderr"; false; }
    done
    # every account's statement, each a file
    "$ROLLUP" --db "$DB" invoice --all-accounts --month 2026-10 --format tsv --outdir "$T/inv.sqlite"
    "$ROLLUP" --db "$TARGET" invoice --all-accounts --month 2026-10 --format tsv --outdir "$T/inv.pg"
    [ "$(ls "$T/inv.sqlite" | wc -l)" -ge 2 ]
    diff -r "$T/inv.sqlite" "$T/inv.pg"
    # the SQLite database is left as it was: still a working site
    run --separate-stderr "$HOSTS" list --all --format tsv
    [ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 5 ]
}

@test "-v says one line per table with the rows copied" {
    mig_populate
    run --separate-stderr "$HOSTS" -v migrate-db --to "$TARGET"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    local t n expected=
    for t in $MIG_TABLES; do
        n=$(sqlite3 "$DB" "SELECT count(*) FROM $t")
        expected+="wp-hosts: $t: $n row$([ "$n" -eq 1 ] || echo s) copied"$'\n'
    done
    [ "$stderr" = "${expected%$'\n'}" ] || { diff <(echo "$expected") <(echo "$stderr"); false; }
    [[ "$stderr" == *"wp-hosts: servers: 4 rows copied"*"wp-hosts: rollup_state: 1 row copied" ]]
}

@test "a second migrate-db into the now non-empty target is refused with 73, and nothing changes" {
    mig_populate
    "$HOSTS" migrate-db --to "$TARGET"
    before=$(target_sql "$(mig_figures_sql)")
    sequences=$(target_sql "SELECT s.last_value, u.last_value, f.last_value, b.last_value
        FROM servers_id_seq s, users_id_seq u, ingested_files_id_seq f, billing_classes_id_seq b")
    run --separate-stderr "$HOSTS" migrate-db --to "$TARGET"
    [ "$status" -eq 73 ]
    [ -z "$output" ]
    [[ "$stderr" == "wp-hosts: database $TARGET is not empty: it holds servers (4 rows), host_status (2 rows), users ("* ]] ||
        { echo "$stderr"; false; }
    [[ "$stderr" == *"migrate-db copies into an empty database only"* ]]
    [ "$(target_sql "$(mig_figures_sql)")" = "$before" ]
    [ "$(target_sql "SELECT s.last_value, u.last_value, f.last_value, b.last_value
        FROM servers_id_seq s, users_id_seq u, ingested_files_id_seq f, billing_classes_id_seq b")" = "$sequences" ]

    # one row in any table is enough: a target with only a user is refused too
    psql -X -q -v ON_ERROR_STOP=1 -d "$WP_TEST_PG" -c "DROP DATABASE $TARGET_NAME WITH (FORCE)" \
        -c "CREATE DATABASE $TARGET_NAME"
    mig_target_schema
    target_sql "INSERT INTO billing_classes(name, factor) VALUES ('origin', 2)"
    run --separate-stderr "$HOSTS" migrate-db --to "$TARGET"
    [ "$status" -eq 73 ]
    [[ "$stderr" == *"is not empty: it holds billing_classes (1 row);"* ]] || { echo "$stderr"; false; }
    [ "$(target_sql 'SELECT count(*) FROM servers')" -eq 0 ]
}

@test "a --to that is not PostgreSQL is refused with 64, a password in it with 78, an SQLite target never made" {
    "$HOSTS" add tor1
    run --separate-stderr "$HOSTS" migrate-db --to "$T/other.db"
    [ "$status" -eq 64 ]
    [[ "$stderr" == "wp-hosts: --to $T/other.db: not a PostgreSQL database"* ]] || { echo "$stderr"; false; }
    [ ! -e "$T/other.db" ]
    run --separate-stderr "$HOSTS" migrate-db --to "sqlite://$T/other.db"
    [ "$status" -eq 64 ]
    run --separate-stderr "$HOSTS" migrate-db
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"--to is required"* ]] || { echo "$stderr"; false; }
    # a password belongs in ~/.pgpass; it is not echoed
    run --separate-stderr "$HOSTS" migrate-db --to "${TARGET/wp@/wp:s3cret@}"
    [ "$status" -eq 78 ]
    [[ "$stderr" == *"~/.pgpass"* ]]
    no_match s3cret <<<"$stderr"
    # from PostgreSQL is not what it does
    run --separate-stderr "$HOSTS" --db "$TARGET" migrate-db --to "$TARGET"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"is PostgreSQL already"* ]] || { echo "$stderr"; false; }
    # a source that does not exist: 66, and the target untouched (no schema)
    run --separate-stderr "$HOSTS" --db "$T/none.db" migrate-db --to "$TARGET"
    [ "$status" -eq 66 ]
    [ "$(target_sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" -eq 0 ]
    # --to is a choice of one run, refused in wp.conf
    echo "to = $TARGET" >>"$WP_CONFIG"
    run --separate-stderr "$HOSTS" migrate-db --to "$TARGET"
    [ "$status" -eq 78 ]
}

@test "a copy that verification finds different is rolled back with 65 naming the table and both figures" {
    mig_populate
    # the schema made beforehand, and a trigger that bills one row's bytes twice
    mig_target_schema
    hour=$(sqlite3 "$DB" 'SELECT min(hour) FROM usage WHERE server_id = 1')
    user=$(sqlite3 "$DB" "SELECT min(user_id) FROM usage WHERE server_id = 1 AND hour = $hour")
    bytes=$(sqlite3 "$DB" "SELECT bytes FROM usage WHERE server_id = 1 AND hour = $hour AND user_id = $user")
    psql -X -q -v ON_ERROR_STOP=1 -d "$TARGET" <<SQL
CREATE FUNCTION twice() RETURNS trigger LANGUAGE plpgsql AS
    \$\$ BEGIN IF NEW.server_id = 1 AND NEW.hour = $hour AND NEW.user_id = $user THEN NEW.bytes := 2 * NEW.bytes; END IF;
       RETURN NEW; END \$\$;
CREATE TRIGGER twice BEFORE INSERT ON usage FOR EACH ROW EXECUTE FUNCTION twice();
SQL
    read -r rows requests sum billed < <(sqlite3 -separator ' ' "$DB" \
        'SELECT count(*), sum(requests), sum(bytes), sum(billed_bytes) FROM usage')
    run --separate-stderr "$HOSTS" migrate-db --to "$TARGET"
    [ "$status" -eq 65 ]
    [ "$stderr" = "wp-hosts: verification failed, nothing copied: table usage holds rows $rows, requests $requests, bytes $sum, billed_bytes $billed in $DB but rows $rows, requests $requests, bytes $((sum + bytes)), billed_bytes $billed in $TARGET" ] ||
        { echo "$stderr"; false; }
    # nothing is left in the target but its own billing class
    [ "$(target_sql "$(mig_figures_sql)" | awk -F'|' '$2 != 0' | cut -d'|' -f1,2)" = "billing_classes|1" ]
    [ "$(target_sql 'SELECT nextval(pg_get_serial_sequence($$servers$$, $$id$$))')" -eq 1 ]
}

@test "after the migration wp-parse on PostgreSQL bills one more file: ids continue past the copied ones" {
    mig_populate
    "$HOSTS" migrate-db --to "$TARGET"
    max_file=$(sqlite3 "$DB" 'SELECT max(id) FROM ingested_files')
    max_user=$(sqlite3 "$DB" 'SELECT max(id) FROM users')
    requests=$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')
    # users user000..user014: five of them new
    "$GEN" --lines 700 --start 1793577600 --span 86400 --seed 35 --users 15 >"$T/more.log"
    spool_file nowhere more.log <"$T/more.log"
    run --separate-stderr "$PARSE" --db "$TARGET" --rules "$RULES"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$(target_sql "SELECT id, source_name, lines, rejected FROM ingested_files WHERE id > $max_file")" = \
        "$((max_file + 1))|more.log|700|0" ]
    [ "$(target_sql 'SELECT sum(requests) FROM usage')" -eq $((requests + 700)) ]
    # the log's users ('-' is none) that SQLite did not know, and only they, came after every copied id
    # (PostgreSQL may skip ids: an upsert that finds its row takes one all the same)
    # (a user is the fields between the URL and the hierarchy, "dave smith" among them)
    awk '{ u = $8; for (i = 9; i <= NF - 2; i++) u = u " " $i; gsub(/%20/, " ", u) } u != "-" { print u }' \
        "$T/more.log" | LC_ALL=C sort -u >"$T/log_users"
    sqlite3 "$DB" 'SELECT name FROM users' | LC_ALL=C sort >"$T/old_users"
    LC_ALL=C comm -13 "$T/old_users" "$T/log_users" >"$T/new_users"
    [ "$(wc -l <"$T/new_users")" -ge 1 ]
    diff "$T/new_users" <(target_sql "SELECT name FROM users WHERE id > $max_user ORDER BY name")
    diff "$T/old_users" <(target_sql "SELECT name FROM users WHERE id <= $max_user ORDER BY name")
    # a new server's id continues too; the summary refreshes and verifies
    "$HOSTS" --db "$TARGET" add par1
    [ "$(target_sql "SELECT id FROM servers WHERE name = 'par1'")" -eq 5 ]
    "$ROLLUP" --db "$TARGET"
    run --separate-stderr "$ROLLUP" --db "$TARGET" --verify
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$(target_sql 'SELECT count(*) FROM dirty_days')" -eq 0 ]
    [ "$(target_sql 'SELECT sum(requests) FROM sum_usage_daily')" -eq $((requests + 700)) ]
}

@test "a row the target's foreign keys refuse (usage of a user SQLite no longer has) is 65, and nothing is copied" {
    mig_populate
    # sqlite3 enforces no foreign key unless told: an orphan as an old bug might have left it
    sqlite3 "$DB" "INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes)
        VALUES (1, 999, 1790812800, 1, 10, 10)"
    run --separate-stderr "$HOSTS" migrate-db --to "$TARGET"
    [ "$status" -eq 65 ]
    [[ "$stderr" == "wp-hosts: database $TARGET: "*'violates foreign key constraint "usage_user_id_fkey"'* ]] ||
        { echo "$stderr"; false; }
    [ "$(target_sql "$(mig_figures_sql)" | awk -F'|' '$2 != 0' | cut -d'|' -f1,2)" = "billing_classes|1" ]
    # the keys are all there still
    [ "$(target_sql "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")" -eq 15 ]
}
