#!/usr/bin/env bats
# The archive is the source of truth: a database restored from an older
# backup, a new empty database, or none at all loses no line and bills none
# twice; --rebuild-db gives back the same database from the archive alone.
bats_require_minimum_version 1.5.0

load site

setup() {
    make_test_site wp-parse-recovery
    "$HOSTS" add tor1
    "$HOSTS" add dub1
    mkdir -p "$T/spool/tor1" "$T/spool/dub1" "$T/fed"
}

teardown() {
    rm -rf "$T"
}

# feed NAME SERVER GEN-ARGS...: a log into the spool, a copy kept as fed
feed() {
    local name=$1 server=$2
    shift 2
    "$GEN" "$@" >"$T/spool/$server/$name"
    cp "$T/spool/$server/$name" "$T/fed/$server.$name"
}

usage_of() { # DB: per (server, user, hour) requests, bytes, billed bytes
    sqlite3 -separator $'\t' "$1" "SELECT s.name, u.name, g.hour, g.requests, g.bytes, g.billed_bytes FROM usage g
        JOIN servers s ON s.id = g.server_id JOIN users u ON u.id = g.user_id ORDER BY 1, 2, 3"
}

ledger_of() {
    sqlite3 -separator $'\t' "$1" "SELECT sha256, source_name, lines, rejected, first_ts, last_ts, first_line_sha256
        FROM ingested_files ORDER BY 1;
        SELECT path, committed_size FROM archive_files ORDER BY 1;
        SELECT s.name, d.day FROM dirty_days d JOIN servers s ON s.id = d.server_id ORDER BY 1, 2"
}

oracle() { # per (server, user, hour) from awk over every line ever fed
    local s f
    for s in tor1 dub1; do
        cat "$T"/fed/$s.* 2>/dev/null | grep -av "^garbage" | "$ORACLE" | awk -v s=$s -F'\t' -v OFS='\t' '{ print s, $1, $2, $3, $4, $5 }'
    done | LC_ALL=C sort -t $'\t' -k1,1 -k2,2 -k3,3n
}

check_against_oracle() { # DB
    diff <(oracle) <(usage_of "$1" | LC_ALL=C sort -t $'\t' -k1,1 -k2,2 -k3,3n)
    diff <(cat "$T"/fed/* | LC_ALL=C sort) <(find "$T/archive" -name '*.zst' -exec zstdcat {} + | LC_ALL=C sort)
}

@test "a restored older backup: the lines billed after it are billed from the archive, never cut" {
    # A and B of the same server and day, C a day later on another server
    feed tor1.a.log tor1 --lines 3000 --seed 1 --start 1764028800 --span 80000 --garbage 3
    "$PARSE"
    sqlite3 "$DB" ".backup $T/bak.db"
    feed tor1.b.log tor1 --lines 3000 --seed 2 --start 1764030000 --span 90000 --users 7
    feed dub1.c.log dub1 --lines 2000 --seed 3 --start 1764100000
    "$PARSE"
    arch=$T/archive/tor1/2025-11/tor1.2025-11-25.log.zst
    size=$(stat -c %s "$arch")
    usage_of "$DB" >"$T/usage-before"
    ledger_of "$DB" >"$T/ledger-before"

    cp "$T/bak.db" "$DB"
    rm -f "$DB-wal" "$DB-shm"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-parse: warning: the archive holds 2 source files the database did not know (a database restored from an older backup, or a run stopped before its commit): billed them from the archive, in $T/archive/dub1/2025-11/dub1.2025-11-25.log.zst, $arch, $T/archive/tor1/2025-11/tor1.2025-11-26.log.zst" ]
    [ "$(stat -c %s "$arch")" -eq "$size" ]
    diff "$T/usage-before" <(usage_of "$DB")
    diff "$T/ledger-before" <(ledger_of "$DB")
    check_against_oracle "$DB"

    # a later file, then the same again: nothing more changes
    feed tor1.d.log tor1 --lines 1000 --seed 4 --start 1764040000
    "$PARSE"
    check_against_oracle "$DB"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] && [ "$stderr" = "" ]
    check_against_oracle "$DB"

    # the archive alone gives the same database
    run --separate-stderr "$PARSE" --db "$T/rebuilt.db" --rebuild-db
    [ "$status" -eq 0 ] && [ "$stderr" = "" ]
    diff <(usage_of "$DB") <(usage_of "$T/rebuilt.db")
    diff <(ledger_of "$DB") <(ledger_of "$T/rebuilt.db")
    [ "$(sqlite3 "$T/rebuilt.db" 'SELECT group_concat(name) FROM servers ORDER BY name')" = "dub1,tor1" ]
    # and refuses a database that holds billing already
    run --separate-stderr "$PARSE" --db "$T/rebuilt.db" --rebuild-db
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-parse: --rebuild-db needs an empty database: $T/rebuilt.db holds usage or ledger rows" ]
}

@test "a new empty database on an existing archive: its first append truncates nothing" {
    feed tor1.a.log tor1 --lines 2000 --seed 1
    "$PARSE"
    rm -f "$DB" "$DB-wal" "$DB-shm"
    "$HOSTS" add tor1
    feed tor1.b.log tor1 --lines 2000 --seed 2
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [[ "$stderr" == "wp-parse: warning: the archive holds 1 source files the database did not know ("* ]]
    check_against_oracle "$DB"
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" -eq 2 ]
}

# killed_then_rerun STRACE-INJECTIONS...: a two-day file, a run killed where
# told (before its commit), then a run that must finish quietly and exactly
killed_then_rerun() {
    feed tor1.a.log tor1 --lines 4000 --seed 1 --start 1764100000 --span 40000
    no_leak_check_under_strace
    run strace -f -o /dev/null "$@" "$PARSE"
    [ "$status" -ne 0 ]
    [ -f "$T/spool/tor1/tor1.a.log" ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" -eq 0 ]
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] && [ "$stderr" = "" ]
    check_against_oracle "$DB"
    [ -z "$(find "$T/spool" -type f)" ]
}

@test "an append killed between its days is cut from every day, then billed once from the spool" {
    # killed right after the first day file's fsync: day 1 has a whole batch, day 2 half of one
    killed_then_rerun -e inject=fsync:signal=KILL:when=1
}

@test "a run killed after the archive but before the commit: billed from the archive, the spool file then goes quietly" {
    # fsyncs: the two day files, then the WAL's commit
    killed_then_rerun -e inject=fdatasync:signal=KILL:when=1 -e inject=fsync:signal=KILL:when=3
}

@test "a line cut at 64 KiB stays rejected when the archive is billed again" {
    {
        "$GEN" --lines 300 --seed 1 --span 600
        printf '1764029000.000  100 192.0.2.1 TCP_MISS/200 5000 GET http://a.example/x long HIER_DIRECT/203.0.113.1 text/%s\n' \
            "$(head -c 70000 /dev/zero | tr '\0' a)"
    } >"$T/spool/tor1/tor1.a.log"
    "$PARSE" 2>/dev/null
    [ "$(sqlite3 "$DB" 'SELECT lines, rejected FROM ingested_files')" = "301|1" ]
    run --separate-stderr "$PARSE" --db "$T/rebuilt.db" --rebuild-db
    [ "$status" -eq 0 ]
    diff <(usage_of "$DB") <(usage_of "$T/rebuilt.db")
    diff <(ledger_of "$DB") <(ledger_of "$T/rebuilt.db")
}

@test "a corrupt batch the database does not know is held with a warning; the other sources are billed" {
    feed tor1.z.log tor1 --lines 100 --seed 5 --span 600
    "$PARSE"
    sqlite3 "$DB" ".backup $T/bak.db"
    feed tor1.y.log tor1 --lines 3000 --seed 6 --span 600
    "$PARSE"
    feed tor1.x.log tor1 --lines 100 --seed 7 --start 1764200000 --span 600
    "$PARSE"
    cp "$T/bak.db" "$DB"
    rm -f "$DB-wal" "$DB-shm"
    arch=$T/archive/tor1/2025-11/tor1.2025-11-25.log.zst
    printf '\377' | dd of="$arch" bs=1 seek=9000 conv=notrunc 2>/dev/null
    feed tor1.w.log tor1 --lines 100 --seed 8 --start 1764300000 --span 600
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
    [[ "${stderr_lines[0]}" == "wp-parse: warning: archive batches of tor1.y.log ($arch) cannot be read (archive $arch: "*"): not billed, not appended to" ]]
    [ "$(sqlite3 "$DB" 'SELECT group_concat(source_name) FROM (SELECT source_name FROM ingested_files ORDER BY 1)')" = "tor1.w.log,tor1.x.log,tor1.z.log" ]
    # the day stays committed before y's batch: the next run warns again, nothing is skipped over
    [ "$(sqlite3 "$DB" "SELECT committed_size FROM archive_files WHERE path LIKE '%25.log.zst'")" -lt 9000 ]
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
}

@test "SIGTERM ends a --rebuild-db under way: nothing committed, the next one does it all" {
    feed tor1.a.log tor1 --lines 2000000 --seed 1 --span 80000
    "$PARSE"
    "$PARSE" --db "$T/rebuilt.db" --rebuild-db 2>"$T/err" &
    local pid=$! st=0
    sleep 0.2
    kill -TERM "$pid"
    # a hang would show here as the 10 s guard's 124
    timeout 10 tail --pid="$pid" -f /dev/null
    wait "$pid" || st=$?
    [ "$st" -eq 143 ]
    [ "$(sqlite3 "$T/rebuilt.db" 'SELECT count(*) FROM ingested_files')" -eq 0 ]
    run --separate-stderr "$PARSE" --db "$T/rebuilt.db" --rebuild-db
    [ "$status" -eq 0 ]
    diff <(usage_of "$DB") <(usage_of "$T/rebuilt.db")
}
