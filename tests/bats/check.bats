#!/usr/bin/env bats
# wp-hosts check, the monitoring plugin of the pipeline, on states made with
# the real tools (wp-hosts add, wp-parse, wp-rollup) and sqlite3: each exit
# status with its exact line, and the Prometheus file, checked by promtool.
bats_require_minimum_version 1.5.0

load site

setup() {
    make_test_site check
    ROLLUP=$BIN/wp-rollup
    NOW=$(date +%s)
    H=3600
    for s in ams1 lon1 tor1; do "$HOSTS" add "$s"; done
    # Added long ago: a server never fetched is stale by its age in the inventory.
    sqlite3 "$DB" "UPDATE servers SET added_at = $((NOW - 100 * H))"
}

teardown() {
    chmod -R u+w "$T" 2>/dev/null || true
    rm -rf "$T"
}

# sql STATEMENTS: run on $DB
sql() { sqlite3 "$DB" "$1"; }

# status_row SERVER LAST_FETCH FAILURES [OFFSET_MS MEASURED_AT]: its host_status
# (a clock reading's uncertainty is 4 ms)
status_row() {
    local uncertainty=NULL
    [ -z "${4:-}" ] || uncertainty=4
    sql "INSERT INTO host_status(server_id, last_fetch, consecutive_failures, clock_offset_ms, clock_uncertainty_ms,
         clock_measured_at) SELECT id, $2, $3, ${4:-NULL}, $uncertainty, ${5:-NULL} FROM servers WHERE name = '$1'"
}

# log_line EPOCH USER BYTES: one native Squid line
log_line() { printf '%s.000    120 192.0.2.7 TCP_MISS/200 %s GET http://example.com/ %s HIER_DIRECT/203.0.113.9 text/html\n' "$1" "$3" "$2"; }

# check ARGS...: wp-hosts check, run within one second of the clock, which
# is then CNOW (so that every age in the line is known here exactly)
check() {
    local before after tries=0
    while :; do
        before=$(date +%s)
        run --separate-stderr "$HOSTS" check "$@"
        after=$(date +%s)
        [ "$before" != "$after" ] && [ $((tries += 1)) -lt 5 ] || break
    done
    CNOW=$before
}

# perf FETCH_AGE FAILURES CLOCK SPOOL_FILES SPOOL_BYTES SPOOL_AGE HELD LAG [STALE]: the
# perfdata with the default thresholds of 3 servers
perf() {
    printf "'servers'=3;;;0 'stale_servers'=%s;;;0;3 'fetch_age'=%ss;@7200:;@21600:;0 'failures'=%s;@1:;@3:;0 " "${9:-0}" "$1" "$2"
    printf "'clock_offset'=%ss;@2:;@10:;0 'spool_files'=%s;;;0 'spool_bytes'=%sB;;;0 'spool_age'=%ss;@7200:;@21600:;0 " "$3" "$4" "$5" "$6"
    printf "'rejects_held'=%s;@1:;;0 'summary_lag'=%ss;@7200:;@21600:;0" "$7" "$8"
}

# The CRITICAL state: tor1 fetched 7.5 h ago, lon1 never (added 8.5 h ago),
# ams1 fetched 20 min ago with its clock 30 s slow; a spool file 7.5 h old;
# one held for its rejects by wp-parse; the summary refreshed 5 h ago and an
# ingest made 3.5 h ago.
critical_state() {
    sql "UPDATE servers SET added_at = $((NOW - 8 * H - 1800)) WHERE name = 'lon1'"
    status_row tor1 $((NOW - 7 * H - 1800)) 0
    status_row ams1 $((NOW - 1200)) 0 -30000 $((NOW - 600))
    mkdir -p "$T/spool/ams1" "$T/in"
    head -c 100 /dev/zero | tr '\0' x >"$T/spool/ams1/ams1.20260101T000000Z.log"
    touch -d "@$((NOW - 7 * H - 1800))" "$T/spool/ams1/ams1.20260101T000000Z.log"
    # billed, then the summary refreshed; their times set back
    log_line $((NOW - 4 * H)) alice 1234 >"$T/in/tor1.good.log"
    "$PARSE" --server tor1 "$T/in/tor1.good.log"
    "$ROLLUP"
    sql "UPDATE ingested_files SET ingested_at = $((NOW - 3 * H - 1800)); UPDATE rollup_state SET refreshed_at = $((NOW - 5 * H))"
    # a file of lines wp-parse cannot read: not billed, held in the spool
    mkdir -p "$T/spool/tor1"
    printf 'not a squid line\n' >"$T/spool/tor1/tor1.20260101T010000Z.log"
    run "$PARSE" --server tor1 "$T/spool/tor1/tor1.20260101T010000Z.log"
    [ "$status" -eq 65 ]
    [ -f "$T/rejects/tor1/tor1.20260101T010000Z.log.rejects" ]
    [ -f "$T/spool/tor1/tor1.20260101T010000Z.log" ]
}

@test "check: OK, one line with the key numbers and perfdata, nothing on stderr" {
    status_row tor1 $((NOW - 3 * H - 1800)) 0
    status_row ams1 $((NOW - 1800)) 0 1500 $((NOW - 60))
    status_row lon1 $((NOW - 600)) 0
    mkdir -p "$T/spool/tor1" "$T/spool/ams1"
    head -c 1000 /dev/zero >"$T/spool/tor1/tor1.20260101T000000Z.log"
    head -c 2048 /dev/zero >"$T/spool/ams1/ams1.20260101T000000Z.log.zst"
    touch -d "@$((NOW - 3 * H - 1800))" "$T/spool/tor1/tor1.20260101T000000Z.log"
    touch -d "@$((NOW - H))" "$T/spool/ams1/ams1.20260101T000000Z.log.zst"
    check --warn-fetch-age 5h --crit-fetch-age 9h --warn-spool-age 5h --crit-spool-age 9h
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    age=$((CNOW - NOW + 3 * H + 1800))
    [ "$output" = "WP OK - 3 servers, longest without a fetch 3h; spool: 2 files, 3.0 KiB, oldest 3h; summary current | 'servers'=3;;;0 'stale_servers'=0;;;0;3 'fetch_age'=${age}s;@18000:;@32400:;0 'failures'=0;@1:;@3:;0 'clock_offset'=1.5s;@2:;@10:;0 'spool_files'=2;;;0 'spool_bytes'=3048B;;;0 'spool_age'=${age}s;@18000:;@32400:;0 'rejects_held'=0;@1:;;0 'summary_lag'=0s;@7200:;@21600:;0" ] || { echo "got: $output"; false; }

    # an empty inventory is fine too
    sql "UPDATE servers SET active = 0"
    rm -r "$T/spool"
    check
    [ "$status" -eq 0 ]
    [ "$output" = "WP OK - 0 servers, longest without a fetch 0s; spool empty; summary current | 'servers'=0;;;0 'stale_servers'=0;;;0;0 'fetch_age'=0s;@7200:;@21600:;0 'failures'=0;@1:;@3:;0 'clock_offset'=0s;@2:;@10:;0 'spool_files'=0;;;0 'spool_bytes'=0B;;;0 'spool_age'=0s;@7200:;@21600:;0 'rejects_held'=0;@1:;;0 'summary_lag'=0s;@7200:;@21600:;0" ]
}

@test "check: WARNING names each item; thresholds may stand in wp.conf under [wp-hosts]" {
    status_row tor1 $((NOW - 3 * H - 1800)) 0
    status_row ams1 $((NOW - 1800)) 1
    status_row lon1 $((NOW - 600)) 0 3500 $((NOW - 600))
    check
    [ "$status" -eq 1 ]
    [ -z "$stderr" ]
    age=$((CNOW - NOW + 3 * H + 1800))
    [ "$output" = "WP WARNING - 1 of 3 servers not fetched for 2h (tor1 3h); consecutive failures: ams1 1; clock: lon1 +3.5 s | $(perf "$age" 1 3.5 0 0 0 0 0 1)" ]

    printf '[wp-hosts]\nwarn-failures = 2\nwarn-clock = 4s\nwarn-fetch-age = 4h\n' >>"$WP_CONFIG"
    check
    [ "$status" -eq 0 ]
    [[ "$output" == "WP OK - 3 servers, longest without a fetch 3h; spool empty; summary current | "* ]]
    [[ "$output" == *" 'failures'=1;@2:;@3:;0 'clock_offset'=3.5s;@4:;@10:;0 "* ]]

    # a clock reading older than a day is not judged
    sql "UPDATE host_status SET clock_offset_ms = 60000, clock_measured_at = $((NOW - 25 * H))"
    check
    [ "$status" -eq 0 ]
    [[ "$output" == *" 'clock_offset'=0s;@4:;@10:;0 "* ]]
}

@test "check: CRITICAL, the worst first: servers, clock, spool, then the warnings" {
    critical_state
    "$HOSTS" add new1 # added just now: not stale yet
    check
    [ "$status" -eq 2 ]
    [ -z "$stderr" ]
    fetch=$((CNOW - NOW + 8 * H + 1800))
    spool=$((CNOW - NOW + 7 * H + 1800))
    lag=$((CNOW - NOW + 3 * H + 1800))
    [ "$output" = "WP CRITICAL - 2 of 4 servers not fetched for 2h (lon1 never, tor1 7h); clock: ams1 -30.0 s; spool: 1 file, 100 B, oldest 7h; 1 file held for rejects (17 B); summary 3h behind the ingest | 'servers'=4;;;0 'stale_servers'=2;;;0;4 'fetch_age'=${fetch}s;@7200:;@21600:;0 'failures'=0;@1:;@3:;0 'clock_offset'=30s;@2:;@10:;0 'spool_files'=1;;;0 'spool_bytes'=100B;;;0 'spool_age'=${spool}s;@7200:;@21600:;0 'rejects_held'=1;@1:;;0 'summary_lag'=${lag}s;@7200:;@21600:;0" ]

    # wp-rollup catches up: the summary drops out of the line
    "$ROLLUP"
    check
    [ "$status" -eq 2 ]
    [[ "$output" == *"; 1 file held for rejects (17 B) | "* ]]
    [[ "$output" == *" 'summary_lag'=0s;@7200:;@21600:;0" ]]
}

@test "check: a large fleet's line stays short" {
    sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
         INSERT INTO servers(name, address, added_at) SELECT printf('s%03d', i), 'x', $((NOW - 100 * H)) FROM n"
    sql "INSERT INTO host_status(server_id, last_fetch) SELECT id, $((NOW - 10 * H)) - id FROM servers WHERE name GLOB 's*'"
    check
    [ "$status" -eq 2 ]
    [[ "$output" == "WP CRITICAL - 303 of 303 servers not fetched for 2h (ams1 never, lon1 never, tor1 never, s300 10h, s299 10h, +298 more) | "* ]]
    [ "${#output}" -lt 500 ]
}

@test "check: UNKNOWN (3) for bad thresholds and a missing database, one line on stdout" {
    expect_check_unknown() { # LINE ARGS...
        local line=$1
        shift
        check "$@"
        [ "$status" -eq 3 ] || { echo "status $status: $output"; return 1; }
        [ -z "$stderr" ]
        [ "$output" = "$line" ] || { echo "got: $output"; return 1; }
    }
    expect_check_unknown "WP UNKNOWN - no database $T/none.db (wp-hosts add creates one)" --db "$T/none.db"
    expect_check_unknown "WP UNKNOWN - --warn-clock: '2x' is not a duration (e.g. 90m, 2h, 1.5s, 500ms) or none" --warn-clock 2x
    expect_check_unknown "WP UNKNOWN - --crit-failures: '-1' is not a whole number or none" --crit-failures=-1
    expect_check_unknown "WP UNKNOWN - --warn-failures 5 is above --crit-failures 3" --warn-failures 5
    expect_check_unknown "WP UNKNOWN - --warn-spool-age 7h is above --crit-spool-age 6h" --warn-spool-age 7h
    run --separate-stderr "$HOSTS" check --warn-spool-bytes 10X
    [ "$status" -eq 3 ]
    [[ "$output" == "WP UNKNOWN - --warn-spool-bytes: "* ]]
    [ -z "$stderr" ]
    # a command line the parser refuses is UNKNOWN too, as a plugin answers (not 64 on stderr)
    expect_check_unknown "WP UNKNOWN - unexpected argument --bogus" --bogus
    expect_check_unknown "WP UNKNOWN - --warn-clock: 1 required TEXT missing" --warn-clock
    # a bad value in wp.conf is UNKNOWN too, never a silent default
    printf '[wp-hosts]\ncrit-fetch-age = soon\n' >>"$WP_CONFIG"
    expect_check_unknown "WP UNKNOWN - --crit-fetch-age: 'soon' is not a duration (e.g. 90m, 2h, 1.5s, 500ms) or none"
    # and so is a wp.conf no tool takes (for another command it is 78, on stderr)
    sed -i '/^crit-fetch-age = soon$/d' "$WP_CONFIG"
    printf 'no-such-key = 1\n' >>"$WP_CONFIG"
    local n
    n=$(wc -l <"$WP_CONFIG")
    expect_check_unknown "WP UNKNOWN - $WP_CONFIG:$n: unknown key 'no-such-key' for wp-hosts"
    run --separate-stderr "$HOSTS" list
    [ "$status" -eq 78 ] && [ "$stderr" = "wp-hosts: $WP_CONFIG:$n: unknown key 'no-such-key' for wp-hosts" ]
}

# needs_promtool: promtool (Debian's prometheus) is here; under CI its absence fails
needs_promtool() {
    command -v promtool >/dev/null && return 0
    if [ "${CI:-}" = true ]; then
        echo "promtool must be installed under CI (make -f Makefile.dist deps: prometheus)" >&2
        return 1
    fi
    skip "promtool is not installed (Debian package prometheus)"
}

@test "check --prometheus: the same facts as textfile metrics, exact, and promtool accepts them" {
    needs_promtool
    critical_state
    sql "UPDATE servers SET added_at = $((NOW - 100 * H)) WHERE name <> 'lon1'"
    mkdir "$T/textfile"
    check --prometheus "$T/textfile/wp.prom"
    [ "$status" -eq 2 ]
    [ -z "$stderr" ]
    run promtool check metrics <"$T/textfile/wp.prom"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ -z "$output" ]
    # no temporary is left beside it
    [ "$(ls -A "$T/textfile")" = wp.prom ]
    refreshed=$((NOW - 5 * H))
    ingested=$((NOW - 3 * H - 1800))
    expected=$(cat <<METRICS
# HELP wp_check_status The pipeline check's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
# TYPE wp_check_status gauge
wp_check_status 2
# HELP wp_check_timestamp_seconds When the check read the facts.
# TYPE wp_check_timestamp_seconds gauge
wp_check_timestamp_seconds $CNOW
# HELP wp_servers_active Active servers that are not retired.
# TYPE wp_servers_active gauge
wp_servers_active 3
# HELP wp_server_added_timestamp_seconds When the server was added to the inventory.
# TYPE wp_server_added_timestamp_seconds gauge
wp_server_added_timestamp_seconds{server="ams1"} $((NOW - 100 * H))
wp_server_added_timestamp_seconds{server="lon1"} $((NOW - 8 * H - 1800))
wp_server_added_timestamp_seconds{server="tor1"} $((NOW - 100 * H))
# HELP wp_server_last_fetch_timestamp_seconds When wp-fetchlogs last fetched from the server (absent: never).
# TYPE wp_server_last_fetch_timestamp_seconds gauge
wp_server_last_fetch_timestamp_seconds{server="ams1"} $((NOW - 1200))
wp_server_last_fetch_timestamp_seconds{server="tor1"} $((NOW - 7 * H - 1800))
# HELP wp_server_consecutive_failures Failed contacts with the server since its last good one.
# TYPE wp_server_consecutive_failures gauge
wp_server_consecutive_failures{server="ams1"} 0
wp_server_consecutive_failures{server="lon1"} 0
wp_server_consecutive_failures{server="tor1"} 0
# HELP wp_server_clock_offset_seconds The server's clock minus ours, as last read.
# TYPE wp_server_clock_offset_seconds gauge
wp_server_clock_offset_seconds{server="ams1"} -30
# HELP wp_server_clock_uncertainty_seconds The uncertainty of the last clock reading (half its round trip).
# TYPE wp_server_clock_uncertainty_seconds gauge
wp_server_clock_uncertainty_seconds{server="ams1"} 0.004
# HELP wp_server_clock_measured_timestamp_seconds When the server's clock was last read.
# TYPE wp_server_clock_measured_timestamp_seconds gauge
wp_server_clock_measured_timestamp_seconds{server="ams1"} $((NOW - 600))
# HELP wp_spool_files Log files in the spool waiting for wp-parse (held files aside).
# TYPE wp_spool_files gauge
wp_spool_files 1
# HELP wp_spool_bytes Bytes of the log files waiting in the spool.
# TYPE wp_spool_bytes gauge
wp_spool_bytes 100
# HELP wp_spool_oldest_file_timestamp_seconds Modification time of the oldest log file waiting in the spool.
# TYPE wp_spool_oldest_file_timestamp_seconds gauge
wp_spool_oldest_file_timestamp_seconds $((NOW - 7 * H - 1800))
# HELP wp_rejects_held_files Spool files wp-parse holds for their rejected lines.
# TYPE wp_rejects_held_files gauge
wp_rejects_held_files 1
# HELP wp_rejects_held_bytes Bytes of the spool files held for their rejected lines.
# TYPE wp_rejects_held_bytes gauge
wp_rejects_held_bytes 17
# HELP wp_rollup_refreshed_timestamp_seconds When wp-rollup last refreshed the summary.
# TYPE wp_rollup_refreshed_timestamp_seconds gauge
wp_rollup_refreshed_timestamp_seconds $refreshed
# HELP wp_ingest_last_timestamp_seconds When wp-parse last billed a file.
# TYPE wp_ingest_last_timestamp_seconds gauge
wp_ingest_last_timestamp_seconds $ingested
# HELP wp_rollup_pending_ingest_timestamp_seconds When the oldest ingest the summary has not taken in was made.
# TYPE wp_rollup_pending_ingest_timestamp_seconds gauge
wp_rollup_pending_ingest_timestamp_seconds $ingested
METRICS
)
    [ "$(cat "$T/textfile/wp.prom")" = "$expected" ] || { diff <(echo "$expected") "$T/textfile/wp.prom"; false; }
}

@test "check --prometheus: a file that cannot be written is UNKNOWN naming it; the previous file stays whole" {
    status_row tor1 $((NOW - 600)) 0
    status_row ams1 $((NOW - 600)) 0
    status_row lon1 $((NOW - 600)) 0
    check --prometheus "$T/none/wp.prom"
    [ "$status" -eq 3 ]
    [ -z "$stderr" ]
    [[ "$output" == "WP UNKNOWN - $T/none/wp.prom not written: cannot create $T/none/wp.prom.tmp."*": No such file or directory" ]]
    [ ! -e "$T/none" ]

    mkdir "$T/textfile"
    check --prometheus "$T/textfile/wp.prom"
    [ "$status" -eq 0 ]
    cp "$T/textfile/wp.prom" "$T/before.prom"
    # Now a fleet whose metrics exceed what the file size limit lets be written
    # (EFBIG, even as root): the write fails midway.
    sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO servers(name, address, added_at) SELECT printf('s%04d', i), 'x', $((NOW - 100 * H)) FROM n"
    run --separate-stderr bash -c 'trap "" XFSZ; ulimit -f 64; exec "$@"' - "$HOSTS" check --prometheus "$T/textfile/wp.prom"
    [ "$status" -eq 3 ]
    [ -z "$stderr" ]
    [[ "$output" == "WP UNKNOWN - $T/textfile/wp.prom not written: cannot write $T/textfile/wp.prom.tmp."*": File too large" ]] || { echo "$output"; false; }
    cmp "$T/before.prom" "$T/textfile/wp.prom"
    [ "$(ls -A "$T/textfile")" = wp.prom ]
}
