#!/usr/bin/env bats
# The PostgreSQL store's own cases, on the tests' cluster (WP_TEST_PG, the
# ctest fixture pg): one schema on both engines, connection strings refused
# or unreachable, a connection lost in the middle of a file, and which
# servers a collector fetches. Oracles: sqlite3 and psql's catalogs, awk
# (tests/tools/bill-awk), zstdcat.
# Address block 127.0.44.* belongs to the cluster; this file listens on 127.0.44.20.
bats_require_minimum_version 1.5.0

load site

setup() {
    [ -n "${WP_TEST_PG:-}" ] || skip "needs the tests' PostgreSQL cluster (WP_TEST_PG, from the ctest fixture pg)"
    WP_TEST_DB=postgresql make_test_site wp-pg-bats
}

teardown() {
    local pid
    for pid in ${PG_SILENT_PID:-} ${PG_PROXY_PID:-}; do
        kill "$pid" 2>/dev/null || true
    done
    drop_test_site
}

# pg_addr_port: the address and port of $DB
pg_addr_port() {
    local hostport=${DB#*@}
    hostport=${hostport%%/*}
    echo "${hostport%:*} ${hostport##*:}"
}

# pg_columns: every table and view of $DB as "table column" lines, in column order
pg_columns() {
    psql -X -A -t -F ' ' -d "$DB" -c "SELECT c.relname, a.attname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
        AND c.relname <> 'wp_schema' ORDER BY c.relname, a.attnum"
}

# sqlite_columns FILE: the same of an SQLite database
sqlite_columns() {
    local t
    for t in $(sqlite3 "$1" "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"); do
        sqlite3 "$1" "SELECT '$t ' || name FROM pragma_table_info('$t') ORDER BY cid"
    done | LC_ALL=C sort -s -k1,1
}

@test "one schema on both engines: every table and view, its columns in the same order; version 6" {
    "$HOSTS" add tor1
    "$HOSTS" --db "$T/wp.db" add tor1
    diff <(sqlite_columns "$T/wp.db") <(pg_columns)
    [ "$(psql -X -A -t -d "$DB" -c 'SELECT version FROM wp_schema')" = 6 ]
    [ "$(sqlite3 "$T/wp.db" 'PRAGMA user_version')" = 6 ]
    # names and days sort as SQLite sorts them (bytes), whatever the cluster's locale
    "$HOSTS" add Zeta1
    "$HOSTS" add alpha1
    [ "$("$HOSTS" list --format tsv | cut -f1 | tail -n +2 | tr '\n' ' ')" = "Zeta1 alpha1 tor1 " ]
}

@test "a password in the connection string is refused (78) without being shown; a URI wp cannot read is 78" {
    local db
    for db in "postgresql://wp:s3cret@127.0.44.1:1/x" "postgresql://wp@127.0.44.1:1/x?password=s3cret" \
        "postgresql://wp@127.0.44.1:1/x?pass%77ord=s3cret" "service=wp password = s3cret" "host=h password='s3c ret'"; do
        run --separate-stderr "$HOSTS" --db "$db" list
        [ "$status" -eq 78 ]
        [ "$stderr" = "wp-hosts: the database's connection string holds a password, which does not belong there (wp.conf and command lines are readable): put it in ~/.pgpass or the file PGPASSFILE names" ]
    done
    run --separate-stderr "$HOSTS" --db "postgresql://wp@127.0.44.1:1/x?nosuchkey=1" list
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: the database's connection string is not one libpq reads: invalid URI query parameter: \"nosuchkey\"" ]
}

@test "a database or role that does not exist is 78; tools that do not create never give an empty database the schema (66)" {
    local addr port
    read -r addr port < <(pg_addr_port)
    run --separate-stderr "$HOSTS" --db "postgresql://wp@$addr:$port/wpt_nosuchdb" list
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: cannot connect to database postgresql://wp@$addr:$port/wpt_nosuchdb: connection to server at \"$addr\", port $port failed: FATAL:  database \"wpt_nosuchdb\" does not exist" ]
    run --separate-stderr "$HOSTS" --db "postgresql://wpt_nosuchrole@$addr:$port/postgres" list
    [ "$status" -eq 78 ]
    local tool
    for tool in "$BIN/wp-rollup" "$BIN/wp-fetchlogs" "$HOSTS list" "$BIN/wp-rollup report"; do
        run --separate-stderr $tool
        [ "$status" -eq 66 ]
        [[ $stderr == *"no wp-tools schema in database $DB: a new installation makes one by adding its first server"* ]]
    done
    [ "$(db_sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" -eq 0 ]
}

@test "a user name that is not UTF-8 is billed on PostgreSQL, its stray bytes written \\xNN" {
    "$HOSTS" add tor1
    printf '1772900000.000 1 192.0.2.1 TCP_MISS/200 463 GET http://x/ jos\xe9 HIER_DIRECT/192.0.2.9 text/html\n' >"$T/a.log"
    printf '1772900001.000 1 192.0.2.1 TCP_MEM_HIT/200 100 GET http://x/ jos%%C3%%A9 HIER_NONE/- text/html\n' >>"$T/a.log"
    spool_file tor1 tor1.1.log <"$T/a.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$(db_sql -separator ' ' 'SELECT u.name, g.requests, g.billed_bytes FROM usage g JOIN users u ON u.id = g.user_id ORDER BY 1')" = \
        "$(printf 'jos\\xe9 1 926\njos\xc3\xa9 1 100')" ]
}

@test "a wait for the server another collector bills ends on SIGTERM (143, as wp-parse(1) says), the file left" {
    "$HOSTS" add tor1
    "$GEN" --lines 100 --seed 3 >"$T/a.log"
    spool_file tor1 tor1.1.log <"$T/a.log"
    # another session holds tor1's lock (key "wp" << 32 + server id)
    pg_hold_session "SELECT pg_advisory_lock($(((0x7770 << 32) + 1)));"
    db_wait_for 1 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    "$PARSE" -v 2>"$T/parse.err" &
    local parse=$!
    for i in $(seq 100); do grep -q 'another collector is billing it; waiting' "$T/parse.err" && break; sleep 0.1; done
    grep -q 'another collector is billing it; waiting' "$T/parse.err"
    kill -TERM "$parse"
    local rc=0
    wait "$parse" || rc=$?
    [ "$rc" -eq 143 ]
    exec 9>&-
    wait
    [ -f "$T/spool/tor1/tor1.1.log" ]
    [ "$(db_sql 'SELECT count(*) FROM ingested_files')" -eq 0 ]
}

@test "a COMMIT whose answer the network lost: 75, the archive kept whole; the next run finds the bill and removes the file" {
    "$HOSTS" add tor1
    "$GEN" --lines 2000 --seed 11 >"$T/a.log"
    spool_file tor1 tor1.1.log <"$T/a.log"
    local addr port
    read -r addr port < <(pg_addr_port)
    "$SRC/tests/tools/pg-cut-after-commit" 127.0.44.20 0 "$addr" "$port" "$T/proxy.port" &
    PG_PROXY_PID=$!
    for i in $(seq 100); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
    local via=postgresql://wp@127.0.44.20:$(cat "$T/proxy.port")/$TEST_PG_DB
    run --separate-stderr "$PARSE" --db "$via"
    [ "$status" -eq 75 ] || { echo "status=$status $stderr"; false; }
    # the server committed: the bill is in, and the archive holds its lines
    [ "$(db_sql 'SELECT count(*) FROM ingested_files')" -eq 1 ]
    zstdcat "$T"/archive/tor1/*/*.zst | cmp - "$T/a.log"
    [ "$(db_sql 'SELECT sum(committed_size) FROM archive_files')" -eq "$(cat "$T"/archive/tor1/*/*.zst | wc -c)" ]
    [ -f "$T/spool/tor1/tor1.1.log" ]
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$stderr" ]
    [ ! -e "$T/spool/tor1/tor1.1.log" ]
    diff <("$ORACLE" "$T/a.log" | LC_ALL=C sort) \
        <(db_sql -separator $'\t' "SELECT u.name, g.hour, g.requests, g.bytes, g.billed_bytes FROM usage g
            JOIN users u ON u.id = g.user_id" | LC_ALL=C sort)
    zstdcat "$T"/archive/tor1/*/*.zst | cmp - "$T/a.log"
}

@test "an unreachable database is 75 at once, a silent one after its connect_timeout; the spool keeps its files" {
    spool_file tor1 tor1.1.log < <("$GEN" --lines 10 --seed 1)
    # nothing listens on port 1
    run --separate-stderr "$HOSTS" --db "postgresql://wp@127.0.44.20:1/x" list
    [ "$status" -eq 75 ]
    [[ $stderr == "wp-hosts: cannot connect to database postgresql://wp@127.0.44.20:1/x: connection to server at \"127.0.44.20\", port 1 failed: Connection refused" ]]
    run --separate-stderr "$PARSE" --db "postgresql://wp@127.0.44.20:1/x"
    [ "$status" -eq 75 ]
    [ -f "$T/spool/tor1/tor1.1.log" ]
    # a server that accepts and never answers
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.44.20", 0)); print(s.getsockname()[1]); s.close()')
    python3 -c 'import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.44.20", '"$port"')); s.listen(8); c = [s.accept() for _ in range(8)]; time.sleep(300)' &
    PG_SILENT_PID=$!
    for i in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.44.20', $port)).close()" 2>/dev/null && break; sleep 0.1; done
    run --separate-stderr "$PARSE" --db "postgresql://wp@127.0.44.20:$port/x?connect_timeout=2"
    [ "$status" -eq 75 ]
    [[ $stderr == "wp-parse: cannot connect to database postgresql://wp@127.0.44.20:$port/x?connect_timeout=2: "*"timeout expired"* ]]
    [ -f "$T/spool/tor1/tor1.1.log" ]
}

@test "a connection lost in the middle of a file's transaction loses nothing: the file stays, the next run bills it once" {
    "$HOSTS" add tor1
    "$GEN" --lines 3000 --seed 7 >"$T/a.log"
    spool_file tor1 tor1.1.log <"$T/a.log"
    # another session holds dirty_days, the last table a file's transaction writes
    pg_hold_session "BEGIN;" "LOCK TABLE dirty_days IN EXCLUSIVE MODE;"
    db_wait_for 1 "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE c.relname = 'dirty_days' AND l.mode = 'ExclusiveLock' AND l.granted"
    "$PARSE" &
    local parse=$!
    # wp-parse waits on the lock with its usage and ledger rows written
    db_wait_for 1 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
        AND application_name = 'wp-tools' AND wait_event_type = 'Lock'"
    db_sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
        AND application_name = 'wp-tools'" >/dev/null
    local rc=0
    wait "$parse" || rc=$?
    [ "$rc" -eq 75 ]
    printf '%s\n' "COMMIT;" >&9
    exec 9>&-
    wait
    [ -f "$T/spool/tor1/tor1.1.log" ]
    [ "$(db_sql 'SELECT count(*) FROM usage') $(db_sql 'SELECT count(*) FROM ingested_files')" = "0 0" ]
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ ! -e "$T/spool/tor1/tor1.1.log" ]
    diff <("$ORACLE" "$T/a.log" | LC_ALL=C sort) \
        <(db_sql -separator $'\t' "SELECT u.name, g.hour, g.requests, g.bytes, g.billed_bytes FROM usage g
            JOIN users u ON u.id = g.user_id" | LC_ALL=C sort)
    [ "$(db_sql 'SELECT count(*) FROM ingested_files')" -eq 1 ]
    # the archive holds the lines once: the lost run's append was cut off
    zstdcat "$T"/archive/tor1/*/*.zst | cmp - "$T/a.log"
}

@test "collectors: wp-fetchlogs selects its own servers, by collector = or --collector; another's named is 64" {
    "$HOSTS" add s1 --collector c1
    "$HOSTS" add s2 --collector c2
    "$HOSTS" add s3
    "$HOSTS" add s4 --collector c1
    "$HOSTS" set s4 --collector ''
    [ "$(db_sql "SELECT name || ':' || coalesce(collector, '-') FROM servers ORDER BY name" | tr '\n' ' ')" = "s1:c1 s2:c2 s3:- s4:- " ]
    [ "$("$BIN/wp-fetchlogs" --list)" = "s[3-4]" ]
    [ "$("$BIN/wp-fetchlogs" --collector c1 --list)" = "s1" ]
    printf 'collector = c2\n' >>"$WP_CONFIG"
    [ "$("$BIN/wp-fetchlogs" --list)" = "s2" ]
    run --separate-stderr "$BIN/wp-fetchlogs" -H 's[1-2]' --list
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-fetchlogs: s1 belongs to another collector than this one (collector = c2): each collector fetches its own servers (wp-hosts set NAME --collector C)" ]
    run --separate-stderr "$HOSTS" set s1 --collector 'bad name'
    [ "$status" -eq 64 ]
    run --separate-stderr "$BIN/wp-fetchlogs" --collector 'bad/name' --list
    [ "$status" -eq 64 ]
}
