#!/usr/bin/env bats
# wp.conf as every tool reads it: settings only (a per-run choice in the file
# is refused, exit 78), [wp-…] sections, comments after values, and the
# tools' one style of message for a bad file or command line. Oracles: awk
# over the same lines (tests/tools/bill-awk) and sqlite3. No fleet needed.
bats_require_minimum_version 1.5.0

load site

setup() {
    make_test_site wp-config-bats # wp.conf: db, spool, archive, rejects (lines 1-4)
    ROLLUP=$BIN/wp-rollup
    RUNALL=$BIN/wp-runall
    FETCH=$BIN/wp-fetchlogs
    PROV=$BIN/wp-provision
}

teardown() {
    rm -rf "$T"
}

# refused LINE KEY TOOL ARGS...: TOOL exits 78 saying that KEY, at LINE of
# wp.conf, is no setting, and prints nothing else
refused() {
    local line=$1 key=$2 tool=$3
    shift 3
    run --separate-stderr "$BIN/$tool" "$@" </dev/null
    [ "$status" -eq 78 ] || { echo "$tool: status $status: $stderr"; false; }
    [ "$stderr" = "$tool: $WP_CONFIG:$line: '$key' is a command-line choice, not a setting" ] ||
        { echo "$stderr"; false; }
    [ -z "$output" ]
}

spool_log() { # spool_log SERVER FILE: FILE copied into SERVER's spool
    mkdir -p "$T/spool/$1"
    cp "$2" "$T/spool/$1/$1.$(basename "$2")"
}

@test "wp-parse: 'output' in wp.conf is refused, the spool stays, and the next run bills it all as awk does" {
    "$HOSTS" add tor1
    "$GEN" --lines 3000 --span 7200 --seed 5 >"$T/a.log"
    spool_log tor1 "$T/a.log"
    echo 'output = /dev/null' >>"$WP_CONFIG"
    refused 5 output wp-parse
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM usage')" -eq 0 ]
    [ -f "$T/spool/tor1/tor1.a.log" ]

    sed -i '/^output = /d' "$WP_CONFIG"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) || " " || sum(billed_bytes) FROM usage')" = \
      "$("$ORACLE" "$T/a.log" | awk -F'\t' '{ r += $3; b += $5 } END { print r " " b }')" ]
}

@test "wp-rollup: 'user' in wp.conf is refused" {
    echo 'user = user000' >>"$WP_CONFIG"
    refused 5 user wp-rollup report --by user
}

@test "wp-hosts: 'city' in wp.conf is refused, and 'set tor2 --port 2200' leaves tor2 where it is" {
    "$HOSTS" add tor2 --city Montreal
    echo 'city = Toronto' >>"$WP_CONFIG"
    refused 5 city wp-hosts set tor2 --port 2200
    [ "$(sqlite3 "$DB" "SELECT city || ' ' || port FROM servers WHERE name = 'tor2'")" = "Montreal 22" ]
    # nor in a [wp-hosts] section
    sed -i '/^city = /d' "$WP_CONFIG"
    printf '[wp-hosts]\ncity = Toronto\n' >>"$WP_CONFIG"
    refused 6 city wp-hosts set tor2 --port 2200
    sed -i '/^\[wp-hosts\]$/,$d' "$WP_CONFIG"
    "$HOSTS" set tor2 --port 2200
    [ "$(sqlite3 "$DB" "SELECT city || ' ' || port FROM servers WHERE name = 'tor2'")" = "Montreal 2200" ]
}

@test "wp-runall: 'hosts' in wp.conf is refused" {
    "$HOSTS" add tor2
    echo 'hosts = tor2' >>"$WP_CONFIG"
    refused 5 hosts wp-runall --list
}

@test "wp-fetchlogs: 'dry-run' in wp.conf is refused" {
    echo 'dry-run = true' >>"$WP_CONFIG"
    refused 5 dry-run wp-fetchlogs
}

@test "wp-provision: 'accept-new' in its own section is refused" {
    printf '[wp-provision]\naccept-new = true\n' >>"$WP_CONFIG"
    refused 6 accept-new wp-provision plan tor2
}

@test "every tool refuses the same file: a choice in another tool's section, a bad value for another tool" {
    printf '[wp-rollup]\nrebuild = true\n' >>"$WP_CONFIG"
    refused 6 rebuild wp-parse
    refused 6 rebuild wp-hosts list
    refused 6 rebuild wp-fetchlogs
    refused 6 rebuild wp-rollup
    sed -i '$d' "$WP_CONFIG"
    printf '[wp-runall]\njobs = 0 # serial\n' >>"$WP_CONFIG"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-parse: $WP_CONFIG:7: bad value for 'jobs': '0' is not a number from 1 to 64" ]
}

@test "[wp-rollup] format = json sets reports only; the hourly parse bills as before" {
    "$HOSTS" add tor1
    "$GEN" --lines 2000 --seed 9 >"$T/a.log"
    spool_log tor1 "$T/a.log"
    printf '# reports as JSON for the dashboard\n[wp-rollup]\nformat = json  # not wp-parse --format\n' >>"$WP_CONFIG"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    local billed
    billed=$("$ORACLE" "$T/a.log" | awk -F'\t' '{ b += $5 } END { print b }')
    [ "$(sqlite3 "$DB" 'SELECT sum(billed_bytes) FROM usage')" = "$billed" ]
    "$ROLLUP"
    run --separate-stderr "$ROLLUP" report --by server
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "$output" | python3 -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r["server"], r["billed_bytes"])')" = "tor1 $billed" ] || { echo "$output"; false; }
    # the command line wins over the section
    run --separate-stderr "$ROLLUP" report --by server --format tsv
    [ "${lines[0]}" = "$(printf 'server\trequests\tbytes\tbilled_bytes')" ] || { echo "$output"; false; }
}

@test "a global 'format = json' (a report setting) leaves the hourly parse alone" {
    "$HOSTS" add tor1
    "$GEN" --lines 1000 --seed 4 >"$T/a.log"
    spool_log tor1 "$T/a.log"
    echo 'format = json' >>"$WP_CONFIG"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq 1000 ]
}

@test "[wp-runall] jobs = 1 makes wp-runall serial while the global jobs = 4 holds elsewhere" {
    "$HOSTS" add h1
    "$HOSTS" add h2
    printf '#!/bin/sh\necho "hi $1"\n' >"$T/hi.sh"
    chmod +x "$T/hi.sh"
    printf 'jobs = 4\n[wp-runall]\njobs = 1\n' >>"$WP_CONFIG"
    run --separate-stderr "$RUNALL" --batch --local "$T/hi.sh" </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '== h1 ==\nhi h1\n== h2 ==\nhi h2')" ] # serial: a header per host
    # the global jobs = 4 without the section: in parallel, each line prefixed
    sed -i '/^\[wp-runall\]$/,$d' "$WP_CONFIG"
    run --separate-stderr "$RUNALL" --batch --local "$T/hi.sh" </dev/null
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "$output" | sort)" = "$(printf 'h1: hi h1\nh2: hi h2')" ]
}

@test "comments after values are not part of them" {
    "$HOSTS" add tor1
    "$GEN" --lines 500 --seed 2 >"$T/a.log"
    mkdir -p "$T/spool #2/tor1"
    cp "$T/a.log" "$T/spool #2/tor1/tor1.a.log"
    sed -i "s|^spool = .*|spool = \"$T/spool #2\"  # quoted: '#' inside|; s|^db = .*|db = $DB # billing|" "$WP_CONFIG"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq 500 ]
    [ -z "$(ls "$T/spool #2/tor1")" ]
}

@test "a bad value in wp.conf is said once, in the tools' words" {
    echo 'connect-timeout = abc' >>"$WP_CONFIG"
    run --separate-stderr "$HOSTS" list
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: $WP_CONFIG:5: bad value for 'connect-timeout': 'abc' is not a number from 1 to 3600" ]
    sed -i '$d' "$WP_CONFIG"
    printf '[wp-rollups]\ntz = UTC\n' >>"$WP_CONFIG"
    run --separate-stderr "$HOSTS" list
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: $WP_CONFIG:6: unknown section '[wp-rollups]'" ]
}

@test "command-line errors read like the tools' own: lowercase, 'tool: what: why', exit 64" {
    run --separate-stderr "$PARSE" --bogus
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-parse: unexpected argument --bogus
wp-parse: try 'wp-parse --help'" ]
    run --separate-stderr "$RUNALL" -j 0 uptime
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-runall: --jobs: '0' is not a number from 1 to 64
wp-runall: try 'wp-runall --help'" ]
    # every tool that fans out checks --jobs in the one place, alike
    run --separate-stderr "$PARSE" -j 65 -o - /dev/null
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-parse: --jobs: '65' is not a number from 1 to 64
wp-parse: try 'wp-parse --help'" ]
    run --separate-stderr "$FETCH" --jobs 0
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-fetchlogs: --jobs: '0' is not a number from 1 to 64
wp-fetchlogs: try 'wp-fetchlogs --help'" ]
    run --separate-stderr "$HOSTS"
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-hosts: a subcommand is required
wp-hosts: try 'wp-hosts --help'" ]
    run --separate-stderr "$RUNALL" --push a
    [ "$status" -eq 64 ]
    [ "${stderr%%$'\n'*}" = "wp-runall: --push: at least 2 required but received 1" ]
}
