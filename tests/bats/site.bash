# Shared by the bats suites: paths to the built tools and a throwaway site
# (wp.conf, database, spool, archive, rejects) in a temporary directory.
# Loaded with `load site`; this file is not a suite itself (no .bats suffix).

# make_test_site PREFIX: sets SRC BIN PARSE HOSTS GEN ORACLE T DB, exports
# WP_CONFIG. The store is SQLite, the file $T/wp.db, unless WP_TEST_DB is
# postgresql: then a new database on the cluster WP_TEST_PG names
# (postgresql://wp@ADDR:PORT/postgres, which ctest's fixture exports), DB its
# URI and TEST_PG_DB its name. drop_test_site removes the site.
make_test_site() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    PARSE=$BIN/wp-parse
    HOSTS=$BIN/wp-hosts
    GEN=$SRC/tests/tools/gen-squid-log
    ORACLE=$SRC/tests/tools/bill-awk
    T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 711 "$T" # a fleet's Squid (user proxy) may need to reach below it
    export WP_CONFIG=$T/wp.conf
    DB=$T/wp.db
    TEST_PG_DB=
    case ${WP_TEST_DB:-sqlite} in
        sqlite) ;;
        postgresql) make_test_pg_db || return 1 ;;
        *) echo "WP_TEST_DB=$WP_TEST_DB: the stores are sqlite and postgresql"; return 1 ;;
    esac
    printf 'db = %s\nspool = %s\narchive = %s\nrejects = %s\n' \
        "$DB" "$T/spool" "$T/archive" "$T/rejects" >"$WP_CONFIG"
}

# make_test_pg_db: a new, empty database wpt_<random> on WP_TEST_PG's
# cluster; sets TEST_PG_DB and DB (WP_TEST_PG with that database)
make_test_pg_db() {
    command -v psql >/dev/null || skip "WP_TEST_DB=postgresql, and psql is not installed"
    if [[ ! ${WP_TEST_PG:-} =~ ^postgres(ql)?://[^?]*/[^/?]+$ ]]; then
        echo "WP_TEST_DB=postgresql needs WP_TEST_PG=postgresql://USER@ADDR:PORT/DB (not '${WP_TEST_PG:-}')"
        return 1
    fi
    TEST_PG_DB=wpt_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    psql -X -q -v ON_ERROR_STOP=1 -d "$WP_TEST_PG" -c "CREATE DATABASE $TEST_PG_DB" || return 1
    DB=${WP_TEST_PG%/*}/$TEST_PG_DB
}

# drop_test_site: the site of make_test_site removed, $T and its PostgreSQL
# database (sessions still open on it closed)
drop_test_site() {
    if [ -n "${TEST_PG_DB:-}" ]; then
        psql -X -q -v ON_ERROR_STOP=1 -d "$WP_TEST_PG" -c "DROP DATABASE IF EXISTS $TEST_PG_DB WITH (FORCE)"
    fi
    rm -rf "$T"
}

# pg_hold_session SQL...: a psql session on $DB that runs each SQL line and
# stays open (a transaction, a lock held) until `exec 9>&-` ends it; its
# output goes to $T/held.out.
pg_hold_session() {
    mkfifo "$T/held.in"
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <"$T/held.in" >"$T/held.out" 2>&1 &
    exec 9>"$T/held.in"
    printf '%s\n' "$@" >&9
}

# db_wait_for VALUE SQL: polls SQL on $DB (10 s at most) until it prints
# VALUE; fails, showing the last value, when it never does
db_wait_for() {
    local got i
    for i in $(seq 100); do
        got=$(db_sql "$2")
        [ "$got" = "$1" ] && return 0
        sleep 0.1
    done
    echo "waited for '$1' from: $2; last: '$got'"
    return 1
}

# db_is_postgresql: $DB is a PostgreSQL URI (else an SQLite file)
db_is_postgresql() {
    [[ $DB == postgres://* || $DB == postgresql://* ]]
}

# db_sql [-separator SEP] [SQL]: SQL, else stdin's, on $DB, printed as sqlite3
# prints it: no header, a row a line, columns joined by SEP ('|' unless given),
# NULL as nothing. sqlite3 on SQLite, psql on PostgreSQL (where every
# statement's rows print, and the first error ends it with status 3).
db_sql() {
    local sep='|'
    if [ "${1:-}" = -separator ]; then
        sep=$2
        shift 2
    fi
    if db_is_postgresql; then
        if [ $# -gt 0 ]; then
            psql -X -A -t -q -v ON_ERROR_STOP=1 -F "$sep" -d "$DB" -f - <<<"$1"
        else
            psql -X -A -t -q -v ON_ERROR_STOP=1 -F "$sep" -d "$DB" -f -
        fi
    else
        sqlite3 -separator "$sep" "$DB" "$@"
    fi
}

# db_fix_sequences [TABLE...]: after INSERTs with explicit ids into each TABLE
# (servers, users and accounts unless named), the next id one past the largest.
# PostgreSQL's identity columns do not follow explicit ids; SQLite's INTEGER
# PRIMARY KEY does, and there this does nothing.
db_fix_sequences() {
    db_is_postgresql || return 0
    [ $# -gt 0 ] || set -- servers users accounts
    local t sql=
    for t in "$@"; do
        sql+="SELECT setval(pg_get_serial_sequence('$t', 'id'), max(id)) FROM $t HAVING max(id) IS NOT NULL;"
    done
    db_sql "$sql" >/dev/null
}

# db_absent: no tool made the store: no file $DB on SQLite; on PostgreSQL no
# table in the database make_test_site made empty
db_absent() {
    if db_is_postgresql; then
        [ "$(db_sql "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")" -eq 0 ]
    else
        [ ! -e "$DB" ]
    fi
}

# The fetch suites' fleet, in $T/fleet (their setup makes the directory).
# start_fleet ARGS...: `fleet start ARGS` there, the fleet's FLEET_* variables
# set here, and $WP_CONFIG written for it: $DB, $SPOOL, archive and rejects
# under $T, the fleet's key and known hosts, connect-timeout $CONNECT_TIMEOUT
# (3 unless setup sets it). When setup sets ADD_FLEET_HOSTS=yes, every fleet
# host joins the inventory too, with a rotate command that recreates its log
# as Squid's reopen does. Uses $FLEET and $HOSTS.
start_fleet() {
    run "$FLEET" start "$T/fleet" "$@"
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    eval "$("$FLEET" env "$T/fleet")"
    export WP_CONFIG=$T/wp.conf
    printf '%s = %s\n' db "$DB" spool "$SPOOL" archive "$T/archive" rejects "$T/rejects" \
        identity "$FLEET_IDENTITY" known-hosts "$FLEET_KNOWN_HOSTS" connect-timeout "${CONNECT_TIMEOUT:-3}" >"$WP_CONFIG"
    [ "${ADD_FLEET_HOSTS:-}" = yes ] || return 0
    local h a p l
    for h in $FLEET_HOSTS; do
        a=FLEET_ADDR_$h p=FLEET_PORT_$h l=FLEET_LOG_$h
        "$HOSTS" add "$h" --address "${!a}" --port "${!p}" --log-path "${!l}" --rotate-cmd "touch ${!l}"
    done
}

# stop_fleet: the fleet of start_fleet stopped, host1's sshd sessions that a
# test SIGSTOPped continued first so that they can end; nothing when none ran.
stop_fleet() {
    local c
    if [ -n "${FLEET_SSHD_PID_host1:-}" ]; then
        for c in $(descendants "$FLEET_SSHD_PID_host1"); do kill -CONT "$c" 2>/dev/null || true; done
    fi
    "$FLEET" stop "$T/fleet" || true
}

# pw USER: USER's password on the fleet's Squids
pw() { awk -F'\t' -v u="$1" '$1 == u { print $2 }' "$FLEET_USERS_TSV"; }

# spool_file SERVER NAME < content: a file in SERVER's spool, $T/spool/SERVER
spool_file() {
    mkdir -p "$T/spool/$1"
    cat >"$T/spool/$1/$2"
}

# The fleet's refused and silent fixtures (fleet start --faults) as servers
# of the inventory; uses $HOSTS.
add_fault_hosts() {
    "$HOSTS" add refused --address "$FLEET_ADDR_refused" --port "$FLEET_PORT_refused"
    "$HOSTS" add silent --address "$FLEET_ADDR_silent" --port "$FLEET_PORT_silent"
}

# no_match GREP_ARGS...: grep selects no line (of its files, or of stdin).
# A check that fails where `! grep` cannot (bats ignores a negated command's
# status): it shows the lines grep selects, and fails on grep's own error too.
no_match() {
    local found rc=0
    found=$(grep "$@") || rc=$?
    [ "$rc" -ne 1 ] || return 0
    [ "$rc" -ne 0 ] || printf 'grep %s selects:\n%s\n' "$*" "$found"
    return 1
}

# status_of HOST: consecutive_failures|last_error|has_contact from $DB's host_status
status_of() {
    sqlite3 "$DB" "SELECT h.consecutive_failures, h.last_error, h.last_contact IS NOT NULL
        FROM host_status h JOIN servers s ON s.id = h.server_id WHERE s.name = '$1'"
}

# wait_lines FILE N: wait (bounded, 10 s) until FILE has at least N lines.
wait_lines() {
    local i
    for ((i = 0; i < 100; i++)); do
        if [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "$1 has fewer than $2 lines:"
    cat "$1" || true
    return 1
}

# no_leak_check_under_strace: LeakSanitizer cannot work in a process strace
# traces (it aborts the process at exit), so on a sanitizer build (ctest sets
# WP_SANITIZED) a test that runs the tools under strace turns the leak check
# off for itself; ASan's other checks and UBSan stay on.
no_leak_check_under_strace() {
    if [ -n "${WP_SANITIZED:-}" ]; then
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    fi
}

descendants() { # descendants PID: every live descendant, from /proc (no procps needed)
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
        { pid = $1; rest = $0; sub(/.*\) /, "", rest); split(rest, f, " "); if (f[1] != "Z") parent[pid] = f[2] }
        END {
            n = 1; q[1] = root
            for (i = 1; i <= n; i++) for (p in parent) if (parent[p] == q[i]) { q[++n] = p; print p }
        }'
}

# The crash suites (parse_crash, parse_crashpoints) make sites under $T from
# one spool, $T/input/<server>/…, and compare each with the site "clean",
# where one run of wp-parse ingested it undisturbed.

# make_site NAME: a config, database and inventory (the servers of $T/input)
# under $T/NAME, and a copy of $T/input as its spool; uses $BIN.
make_site() {
    local s
    mkdir -p "$T/$1"
    printf 'db = %s\nspool = %s\narchive = %s\nrejects = %s\n' \
        "$T/$1/wp.db" "$T/$1/spool" "$T/$1/archive" "$T/$1/rejects" >"$T/$1/wp.conf"
    for s in $(ls "$T/input"); do
        "$BIN/wp-hosts" --config "$T/$1/wp.conf" add "$s"
    done
    cp -r "$T/input" "$T/$1/spool"
}

state_of() { # state_of NAME: everything billing depends on, in a comparable form
    # (a busy timeout: two readers that open a WAL database at once can race
    # to rebuild its -shm, and the loser is told "database is locked")
    sqlite3 -cmd '.timeout 10000' -separator $'\t' "$T/$1/wp.db" "
        SELECT s.name, u.name, g.hour, g.requests, g.bytes, g.billed_bytes FROM usage g
            JOIN servers s ON s.id = g.server_id JOIN users u ON u.id = g.user_id ORDER BY 1, 2, 3;
        SELECT s.name, d.day FROM dirty_days d JOIN servers s ON s.id = d.server_id ORDER BY 1, 2;
        SELECT sha256, source_name, lines, rejected, first_ts, last_ts FROM ingested_files ORDER BY 1;"
}

# check_same_as_clean NAME: site NAME, after crashes and a run to completion,
# holds what "clean" holds: no spool file; the same usage, dirty days, ledger,
# rejects and archive files; every archive file valid zstd and as long as
# committed; each server's archive holds each of its input lines exactly
# once (rejected lines too), and a dated line in the file of its UTC day.
# A rejects file's temp file that a SIGKILL left behind is not compared: no
# run removes it (litter, not a billing error).
check_same_as_clean() {
    local site=$T/$1 f rel size day start s
    [ -z "$(find "$site/spool" -type f)" ]
    diff <(state_of clean) <(state_of "$1")
    [ "$(sqlite3 "$site/wp.db" 'SELECT count(*) FROM ingested_files')" -eq "$(find "$T/input" -type f | wc -l)" ]
    diff -r -x '*.rejects.tmp.*' "$T/clean/rejects" "$site/rejects"
    diff <(cd "$T/clean/archive" && find . | LC_ALL=C sort) <(cd "$site/archive" && find . | LC_ALL=C sort)
    for f in $(find "$site/archive" -type f); do
        zstd -t -q "$f"
        rel=${f#"$site/archive/"}
        size=$(sqlite3 "$site/wp.db" "SELECT committed_size FROM archive_files WHERE path = '$rel'")
        [ "$(stat -c %s "$f")" -eq "$size" ]
        day=$(basename "$f" .log.zst)
        start=$(date -u -d "${day#*.}" +%s)
        zstdcat "$f" | awk -v start="$start" -v f="$f" '
            $1 ~ /^[0-9]+\.[0-9]+$/ && (int($1) < start || int($1) >= start + 86400) {
                print f ": a line of another day: " $0; bad = 1; exit }
            END { exit bad }'
    done
    [ "$(ls "$site/archive")" = "$(ls "$T/input")" ]
    for s in $(ls "$T/input"); do
        [ -e "$T/input-lines.$s" ] || cat "$T/input/$s"/* | LC_ALL=C sort >"$T/input-lines.$s"
        find "$site/archive/$s" -type f -name '*.zst' -exec zstdcat {} + | LC_ALL=C sort >"$T/archived"
        cmp "$T/archived" "$T/input-lines.$s"
    done
}
