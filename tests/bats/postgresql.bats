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
    if [ -n "${PG_SILENT_PID:-}" ]; then
        kill "$PG_SILENT_PID" 2>/dev/null || true
    fi
    drop_test_site
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
    run --separate-stderr "$HOSTS" --db "postgresql://wp:s3cret@127.0.44.1:1/x" list
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: database postgresql://wp:***@127.0.44.1:1/x: a password does not belong in the connection string (wp.conf and command lines are readable): put it in ~/.pgpass or the file PGPASSFILE names" ]
    run --separate-stderr "$HOSTS" --db "postgresql://wp@127.0.44.1:1/x?password=s3cret" list
    [ "$status" -eq 78 ]
    [[ $stderr != *s3cret* ]]
    run --separate-stderr "$HOSTS" --db "postgresql://wp@127.0.44.1:1/x?nosuchkey=1" list
    [ "$status" -eq 78 ]
    [[ $stderr == *'not a PostgreSQL connection string: invalid URI query parameter: "nosuchkey"'* ]]
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
    local held=$T/held
    mkfifo "$held.in"
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <"$held.in" >"$held.out" 2>&1 &
    exec 9>"$held.in"
    printf '%s\n' "BEGIN;" "LOCK TABLE dirty_days IN EXCLUSIVE MODE;" >&9
    local locked=0
    for i in $(seq 100); do
        locked=$(db_sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE c.relname = 'dirty_days' AND l.mode = 'ExclusiveLock' AND l.granted")
        [ "$locked" -eq 1 ] && break
        sleep 0.1
    done
    [ "$locked" -eq 1 ]
    "$PARSE" &
    local parse=$!
    # wp-parse waits on the lock with its usage and ledger rows written
    local waiting=0
    for i in $(seq 100); do
        waiting=$(db_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
            AND application_name = 'wp-tools' AND wait_event_type = 'Lock'")
        [ "$waiting" -eq 1 ] && break
        sleep 0.1
    done
    [ "$waiting" -eq 1 ]
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
