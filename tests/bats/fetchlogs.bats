#!/usr/bin/env bats
# wp-fetchlogs end to end on the loopback fleet: real sshd, real Squid, the
# real wp-parse afterwards. Oracles: the bytes Squid wrote (copied before the
# fetch), tests/tools/bill-awk, sqlite3.
# Address blocks 127.0.50.* and 127.0.51.* belong to this file.
bats_require_minimum_version 1.5.0

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    FETCH=$BIN/wp-fetchlogs
    HOSTS=$BIN/wp-hosts
    PARSE=$BIN/wp-parse
    FLEET=$SRC/tests/fleet/fleet
    ORACLE=$SRC/tests/tools/bill-awk
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-fetchlogs-bats.XXXXXX")
    chmod 711 "$T" # Squid (user proxy) must reach the fleet below it
    mkdir "$T/fleet"
    DB=$T/wp.db
    SPOOL=$T/spool
}

teardown() {
    "$FLEET" stop "$T/fleet" || true
    rm -rf "$T"
}

start_fleet() { # start_fleet ARGS...
    run "$FLEET" start "$T/fleet" "$@"
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    eval "$("$FLEET" env "$T/fleet")"
    export WP_CONFIG=$T/wp.conf
    printf '%s = %s\n' db "$DB" spool "$SPOOL" archive "$T/archive" rejects "$T/rejects" \
        identity "$FLEET_IDENTITY" known-hosts "$FLEET_KNOWN_HOSTS" connect-timeout 3 >"$WP_CONFIG"
}

# add_host NAME ROTATE_CMD: register a fleet host with its log
add_host() {
    local a=FLEET_ADDR_$1 p=FLEET_PORT_$1 l=FLEET_LOG_$1
    "$HOSTS" add "$1" --address "${!a}" --port "${!p}" --log-path "${!l}" --rotate-cmd "$2"
}

# wait_lines FILE N: wait (bounded) until FILE has at least N lines.
wait_lines() {
    local i
    for ((i = 0; i < 100; i++)); do
        if [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "$1 has fewer than $2 lines"
    return 1
}

pw() { awk -F'\t' -v u="$1" '$1 == u { print $2 }' "$FLEET_USERS_TSV"; }

# get HOST USER FILE: one proxied request, then wait until Squid logged it
get() {
    local p=FLEET_PROXY_$1 l=FLEET_LOG_$1 before=0
    [ -f "${!l}" ] && before=$(wc -l <"${!l}")
    curl -sS -o /dev/null -x "${!p}" -U "$2:$(pw "$2")" "$FLEET_ORIGIN/$3"
    wait_lines "${!l}" $((before + 1))
}

per_user_oracle() { # per_user_oracle FILE: user, requests, billed bytes by awk
    "$ORACLE" "$1" | awk -F'\t' '{ r[$1] += $3; b[$1] += $5 } END { for (u in r) printf "%s\t%d\t%d\n", u, r[u], b[u] }' | sort
}

per_user_db() {
    sqlite3 -separator $'\t' "$DB" "SELECT u.name, sum(requests), sum(billed_bytes) FROM usage g
        JOIN users u ON u.id = g.user_id GROUP BY 1" | sort
}

@test "real Squids: claimed, fetched over sftp then zstd, verified, billed like awk; claims gone, logs reopened" {
    command -v squid >/dev/null || skip "squid is not installed"
    start_fleet --hosts 2 --base 127.0.50 --squid
    local h
    for h in host1 host2; do
        local n=FLEET_SQUID_NAME_$h c=FLEET_SQUID_CONF_$h
        add_host "$h" "squid -n ${!n} -f ${!c} -k rotate"
    done

    # An earlier run claimed host1's log and then failed: its claim is left.
    get host1 alice 10000.bin
    get host1 bob 1000.bin
    local old=$FLEET_LOG_host1.wp-20261124T230000Z
    mv "$FLEET_LOG_host1" "$old"
    squid -n "$FLEET_SQUID_NAME_host1" -f "$FLEET_SQUID_CONF_host1" -k rotate
    cp "$old" "$T/old.copy"

    get host1 alice 10000.bin      # a memory hit now
    get host1 "carol smith" 100000.bin
    get host2 bob 10000.bin
    get host2 alice 1000.bin
    cp "$FLEET_LOG_host1" "$T/h1.copy"
    cp "$FLEET_LOG_host2" "$T/h2.copy"

    run --separate-stderr "$FETCH" --transfer sftp -vv
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$output" ]
    # leftovers first, then this run's claim
    local fetched
    fetched=$(grep -o 'host1: fetched [^ ]*' <<<"$stderr" | cut -d' ' -f3)
    [ "$(sed -n 1p <<<"$fetched")" = "$old" ]
    [[ "$(sed -n 2p <<<"$fetched")" == "$FLEET_LOG_host1".wp-2*Z ]]
    [[ "$stderr" == *"by sftp"* ]]

    # the spool holds exactly what Squid wrote, mode 0640
    cmp "$SPOOL/host1/host1.20261124T230000Z.log" "$T/old.copy"
    local stamp1 f
    f=$(ls "$SPOOL/host1" | grep -v 20261124T230000Z)
    [[ "$f" =~ ^host1\.[0-9]{8}T[0-9]{6}Z\.log$ ]]
    cmp "$SPOOL/host1/$f" "$T/h1.copy"
    cmp "$SPOOL/host2/"host2.*.log "$T/h2.copy"
    [ "$(stat -c %a "$SPOOL/host1/$f")" = 640 ]
    # nothing claimed is left on the hosts, and Squid writes a new live log
    run ! compgen -G "$FLEET_LOG_host1.wp-*"
    run ! compgen -G "$FLEET_LOG_host2.wp-*"
    [ -f "$FLEET_LOG_host1" ] && [ ! -s "$FLEET_LOG_host1" ]
    cat "$T/old.copy" "$T/h1.copy" "$T/h2.copy" >"$T/all.log"

    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    run ! compgen -G "$SPOOL/host*/*.log"

    # a second hour, over the zstd stream, silent as cron wants it
    get host1 bob 100000.bin
    get host2 "carol smith" 10000.bin
    get host2 alice 10000.bin
    cp "$FLEET_LOG_host1" "$T/h1b.copy"
    cp "$FLEET_LOG_host2" "$T/h2b.copy"
    run --separate-stderr "$FETCH" --transfer zstd
    [ "$status" -eq 0 ]
    [ -z "$output" ] && [ -z "$stderr" ]
    cmp "$SPOOL/host1/"host1.*.log "$T/h1b.copy"
    cmp "$SPOOL/host2/"host2.*.log "$T/h2b.copy"
    cat "$T/h1b.copy" "$T/h2b.copy" >>"$T/all.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }

    # billed bytes per user: the database equals awk over what Squid wrote
    [ "$(wc -l <"$T/all.log")" -eq 9 ]
    per_user_oracle "$T/all.log" >"$T/expect"
    per_user_db >"$T/got"
    diff "$T/expect" "$T/got"
    # every contact recorded as a success
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM host_status WHERE consecutive_failures = 0 AND last_contact > 0")" -eq 2 ]
}

@test "selection: -H, --where, inactive and retired servers; nothing to do is silent success" {
    start_fleet --hosts 3 --base 127.0.51
    local h l
    for h in host1 host2 host3; do
        l=FLEET_LOG_$h
        add_host "$h" "touch ${!l}"
        printf '%s line\n' "$h" >"${!l}"
    done
    "$HOSTS" set host2 --active no
    "$HOSTS" set host3 --city Toronto

    run --separate-stderr "$FETCH" --where "city = 'Toronto'"
    [ "$status" -eq 0 ]
    [ "$(ls "$SPOOL")" = host3 ]
    run --separate-stderr "$FETCH" -H host2
    [ "$status" -eq 0 ]
    [ -n "$(ls "$SPOOL/host2")" ]
    # host2 is inactive: left out unless named
    printf 'again\n' >>"$FLEET_LOG_host2"
    run --separate-stderr "$FETCH" -v
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"host1: 1 files"* ]]
    [[ "$stderr" != *"host2"* ]]
    [ -s "$FLEET_LOG_host2" ]
    "$HOSTS" retire host1
    run --separate-stderr "$FETCH" -H nosuch
    [ "$status" -eq 66 ]
    [[ "$stderr" == *"no server named nosuch"* ]]

    # nothing new anywhere: still silent success
    run --separate-stderr "$FETCH"
    [ "$status" -eq 0 ]
    [ -z "$output" ] && [ -z "$stderr" ]
    [ "$(cat "$SPOOL"/host1/*.log)" = "host1 line" ]
    [ "$(cat "$SPOOL"/host3/*.log)" = "host3 line" ]

    run --separate-stderr "$FETCH" --transfer scp
    [ "$status" -eq 64 ]
    run --separate-stderr "$FETCH" --where "1; DROP TABLE servers"
    [ "$status" -eq 64 ]
}

@test "the spool is never written through a symbolic link" {
    start_fleet --hosts 1 --base 127.0.51
    add_host host1 "touch $FLEET_LOG_host1"
    echo line >"$FLEET_LOG_host1"
    mkdir -p "$SPOOL" "$T/elsewhere"
    ln -s "$T/elsewhere" "$SPOOL/host1"
    run --separate-stderr "$FETCH"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-fetchlogs: warning: host1: spool: $SPOOL/host1 is a symbolic link"* ]]
    [ -z "$(ls "$T/elsewhere")" ]
    # and the host was not touched
    [ "$(cat "$FLEET_LOG_host1")" = line ]
    run ! compgen -G "$FLEET_LOG_host1.wp-*"
}
