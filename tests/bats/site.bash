# Shared by the bats suites: paths to the built tools and a throwaway site
# (wp.conf, database, spool, archive, rejects) in a temporary directory.
# Loaded with `load site`; this file is not a suite itself (no .bats suffix).

# make_test_site PREFIX: sets SRC BIN PARSE HOSTS GEN ORACLE T DB, exports WP_CONFIG
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
    printf 'db = %s\nspool = %s\narchive = %s\nrejects = %s\n' \
        "$T/wp.db" "$T/spool" "$T/archive" "$T/rejects" >"$WP_CONFIG"
    DB=$T/wp.db
}

# The fleet's refused and silent fixtures (fleet start --faults) as servers
# of the inventory; uses $HOSTS.
add_fault_hosts() {
    "$HOSTS" add refused --address "$FLEET_ADDR_refused" --port "$FLEET_PORT_refused"
    "$HOSTS" add silent --address "$FLEET_ADDR_silent" --port "$FLEET_PORT_silent"
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

descendants() { # descendants PID: every live descendant, from /proc (no procps needed)
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
        { pid = $1; rest = $0; sub(/.*\) /, "", rest); split(rest, f, " "); if (f[1] != "Z") parent[pid] = f[2] }
        END {
            n = 1; q[1] = root
            for (i = 1; i <= n; i++) for (p in parent) if (parent[p] == q[i]) { q[++n] = p; print p }
        }'
}
