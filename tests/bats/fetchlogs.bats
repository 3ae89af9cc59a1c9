#!/usr/bin/env bats
# wp-fetchlogs end to end on the loopback fleet: real sshd, real Squid, the
# real wp-parse afterwards. Oracles: the bytes Squid wrote (copied before the
# fetch), tests/tools/bill-awk, sqlite3.
# Address blocks 127.0.50.* and 127.0.51.* belong to this file.
bats_require_minimum_version 1.5.0
load site

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
    "$SRC/tests/fleet/delay-relay" stop "$T/relay.pid" 2>/dev/null || true
    stop_fleet
    rm -rf "$T"
}

# add_host NAME ROTATE_CMD: register a fleet host with its log
add_host() {
    local a=FLEET_ADDR_$1 p=FLEET_PORT_$1 l=FLEET_LOG_$1
    "$HOSTS" add "$1" --address "${!a}" --port "${!p}" --log-path "${!l}" --rotate-cmd "$2"
}

# get HOST USER FILE: one proxied request, then wait until Squid logged it
get() {
    local p=FLEET_PROXY_$1 l=FLEET_LOG_$1 before=0
    [ -f "${!l}" ] && before=$(wc -l <"${!l}")
    curl -sS -o /dev/null -x "${!p}" -U "$2:$(pw "$2")" "$FLEET_ORIGIN/$3"
    wait_lines "${!l}" $((before + 1))
}

# traffic HOST: requests by several users through HOST's Squid, each logged
# before the next: misses, a memory hit, a refused password, a tunnel
traffic() {
    get "$1" alice 10000.bin
    get "$1" alice 10000.bin
    get "$1" bob 1000.bin
    get "$1" "carol smith" 100000.bin
    get_as "$1" bob not-his-password 1000.bin
    tunnel "$1" alice
}

# get_as HOST USER PASSWORD FILE: like get, with any password
get_as() {
    local p=FLEET_PROXY_$1 l=FLEET_LOG_$1 before=0
    [ -f "${!l}" ] && before=$(wc -l <"${!l}")
    curl -sS -o /dev/null -x "${!p}" -U "$2:$3" "$FLEET_ORIGIN/$4"
    wait_lines "${!l}" $((before + 1))
}

# tunnel HOST USER: a CONNECT through HOST's Squid
tunnel() {
    local p=FLEET_PROXY_$1 l=FLEET_LOG_$1 before=0
    [ -f "${!l}" ] && before=$(wc -l <"${!l}")
    [ "$(curl -sS -p -x "${!p}" -U "$2:$(pw "$2")" "http://$FLEET_TUNNEL/")" = tunnel-ok ]
    wait_lines "${!l}" $((before + 1))
}

# per_server_user_oracle FILE...: server, user, requests, billed bytes by awk;
# each file is named <server>.<anything>
per_server_user_oracle() {
    local f s
    for f in "$@"; do
        s=$(basename "$f")
        "$ORACLE" "$f" | awk -F'\t' -v s="${s%%.*}" '{ print s "\t" $0 }'
    done | awk -F'\t' '{ k = $1 "\t" $2; r[k] += $4; b[k] += $6 } END { for (k in r) printf "%s\t%d\t%d\n", k, r[k], b[k] }' |
        LC_ALL=C sort
}

per_server_user_db() {
    sqlite3 -separator $'\t' "$DB" "SELECT s.name, u.name, sum(requests), sum(billed_bytes) FROM usage g
        JOIN users u ON u.id = g.user_id JOIN servers s ON s.id = g.server_id GROUP BY 1, 2" | LC_ALL=C sort
}

@test "real Squids on 3 hosts: claimed, fetched over sftp then zstd, byte-identical, every line billed once like awk; no claim left" {
    command -v squid >/dev/null || skip "squid is not installed"
    start_fleet --hosts 3 --base 127.0.50 --squid
    local h n c
    for h in host1 host2 host3; do
        n=FLEET_SQUID_NAME_$h c=FLEET_SQUID_CONF_$h
        add_host "$h" "squid -n ${!n} -f ${!c} -k rotate"
    done
    mkdir "$T/squid"

    # An earlier run claimed host1's log and then failed: its claim is left.
    get host1 alice 10000.bin
    get host1 bob 1000.bin
    local old=$FLEET_LOG_host1.wp-20261124T230000Z
    mv "$FLEET_LOG_host1" "$old"
    squid -n "$FLEET_SQUID_NAME_host1" -f "$FLEET_SQUID_CONF_host1" -k rotate
    cp "$old" "$T/squid/host1.old"

    # the first hour: several users through every host; what Squid wrote is kept aside
    for h in host1 host2 host3; do
        traffic "$h"
        l=FLEET_LOG_$h
        cp "${!l}" "$T/squid/$h.1"
    done

    run --separate-stderr "$FETCH" --transfer sftp -vv
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$output" ]
    # leftovers first, then this run's claim
    local fetched
    fetched=$(grep -o 'host1: fetched [^ ]*' <<<"$stderr" | cut -d' ' -f3)
    [ "$(sed -n 1p <<<"$fetched")" = "$old" ]
    [[ "$(sed -n 2p <<<"$fetched")" == "$FLEET_LOG_host1".wp-2*Z ]]
    [ "$(grep -c ' by sftp;' <<<"$stderr")" -eq 4 ]

    # the spool holds exactly what Squid wrote, mode 0640
    cmp "$SPOOL/host1/host1.20261124T230000Z.log" "$T/squid/host1.old"
    local f
    for h in host1 host2 host3; do
        f=$(ls "$SPOOL/$h" | grep -v 20261124T230000Z)
        [[ "$f" =~ ^$h\.[0-9]{8}T[0-9]{6}Z\.log$ ]]
        cmp "$SPOOL/$h/$f" "$T/squid/$h.1"
        [ "$(stat -c %a "$SPOOL/$h/$f")" = 640 ]
        # nothing claimed is left on the host, and Squid writes a new live log
        l=FLEET_LOG_$h
        run ! compgen -G "${!l}.wp-*"
        [ -f "${!l}" ]
        [ ! -s "${!l}" ]
    done

    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    run ! compgen -G "$SPOOL/host*/*.log"

    # a second hour, over the zstd stream, silent as cron wants it
    for h in host3 host1 host2; do
        traffic "$h"
        l=FLEET_LOG_$h
        cp "${!l}" "$T/squid/$h.2"
    done
    run --separate-stderr "$FETCH" --transfer zstd
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
    for h in host1 host2 host3; do
        cmp "$SPOOL/$h/"$h.*.log "$T/squid/$h.2"
        l=FLEET_LOG_$h
        run ! compgen -G "${!l}.wp-*"
    done
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }

    # every line Squid wrote is billed, once: per server and user, the
    # database equals awk over the copies; the ledger counts every line
    local lines
    lines=$(cat "$T"/squid/* | wc -l)
    [ "$lines" -eq $((2 + 2 * 3 * 6)) ]
    per_server_user_oracle "$T"/squid/* >"$T/expect"
    per_server_user_db >"$T/got"
    diff "$T/expect" "$T/got"
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq "$lines" ]
    [ "$(sqlite3 "$DB" 'SELECT count(*), sum(lines), sum(rejected) FROM ingested_files')" = "7|$lines|0" ]

    # nothing twice: another fetch and parse with no new traffic change nothing
    run --separate-stderr "$FETCH"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    per_server_user_db | diff "$T/expect" -
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" -eq 7 ]
    # every contact recorded as a success
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM host_status WHERE consecutive_failures = 0 AND last_contact > 0")" -eq 3 ]
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
    [ -z "$output" ]
    [ -z "$stderr" ]
    [ "$(cat "$SPOOL"/host1/*.log)" = "host1 line" ]
    [ "$(cat "$SPOOL"/host3/*.log)" = "host3 line" ]

    run --separate-stderr "$FETCH" --transfer scp
    [ "$status" -eq 64 ]
    run --separate-stderr "$FETCH" --where "1; DROP TABLE servers"
    [ "$status" -eq 64 ]

    # the selection of wp-runall: ranges, globs, -w, -x; --list contacts nobody
    run --separate-stderr "$FETCH" -w 'host[1-3]' -x host2 --list
    [ "$status" -eq 0 ]
    [ "$output" = "host[1,3]" ]
    [ -z "$stderr" ]
    run --separate-stderr "$FETCH" --list # host1 retired, host2 inactive
    [ "$output" = host3 ]
    printf 'host1,host2\n' >"$T/hosts.txt"
    run --separate-stderr "$FETCH" --hosts-file "$T/hosts.txt" --list
    [ "$output" = "host[1-2]" ]
    printf 'ranged\n' >>"$FLEET_LOG_host3"
    run --separate-stderr "$FETCH" -H 'host?' -x 'host[1-2]' -v
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"host3: 1 files"* ]]
    [[ "$stderr" != *"host1:"* && "$stderr" != *"host2:"* ]]
    grep -qx ranged "$SPOOL"/host3/*.log # the new line fetched
    run --separate-stderr "$FETCH" -H 'host[3-4]'
    [ "$status" -eq 66 ]
    [ "$stderr" = "wp-fetchlogs: no server named host4 in the inventory" ]
    run --separate-stderr "$FETCH" -x 'host[3-1]'
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-fetchlogs: -x: 'host[3-1]': range 3-1 runs backwards" ]
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

@test "on a terminal: a status line of hosts done, files, bytes and the current rate (0 in a stall), erased at the end" {
    start_fleet --hosts 2 --base 127.0.51
    # host1 is reached through a relay that delays each way by 150 ms, so
    # that its 24 MB take seconds and a rate is measured
    "$SRC/tests/fleet/delay-relay" start "$T/relay.pid" --delay 150 \
        "127.0.51.200:0=$FLEET_ADDR_host1:$FLEET_PORT_host1"
    local listen target
    read -r listen target <"$T/relay.pid.ports"
    printf '[%s]:%s %s\n' "${listen%:*}" "${listen##*:}" \
        "$(cut -d' ' -f1,2 "$T/fleet/host1/ssh_host_ed25519_key.pub")" >>"$FLEET_KNOWN_HOSTS"
    "$HOSTS" add host1 --address "${listen%:*}" --port "${listen##*:}" --log-path "$FLEET_LOG_host1" \
        --rotate-cmd "touch $FLEET_LOG_host1"
    add_host host2 "touch $FLEET_LOG_host2"
    yes 'a log line of some length, as Squid writes them, more or less' | head -c 24000000 >"$FLEET_LOG_host1"
    echo 'host2 line' >"$FLEET_LOG_host2"
    local total
    total=$(($(stat -c %s "$FLEET_LOG_host1") + $(stat -c %s "$FLEET_LOG_host2")))

    # Mid-transfer, host1's sshd is stopped for 3.5 s: the line goes on
    # being redrawn, and its rate falls to 0 B/s.
    TERM=xterm script -q -e -c "$FETCH --transfer sftp" /dev/null >"$T/tty" &
    local fetch=$! i f c
    for ((i = 0; i < 1000; i++)); do
        f=$(compgen -G "$SPOOL/host1/*.tmp.*" | head -n 1) || true
        [ -n "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -gt 8000000 ] && break
        sleep 0.01
    done
    [ "$i" -lt 1000 ]
    local stopped
    stopped=$(descendants "$FLEET_SSHD_PID_host1")
    for c in $stopped; do kill -STOP "$c" 2>/dev/null || true; done
    sleep 3.5
    for c in $stopped; do kill -CONT "$c" 2>/dev/null || true; done
    wait "$fetch"
    # every piece between carriage returns is a status line, whole, ending
    # in erase-to-end-of-line; the last erases the line
    local esc=$'\033'
    tr '\r' '\n' <"$T/tty" | sed '/^$/d' >"$T/lines"
    [ "$(tail -n 1 "$T/lines")" = "$esc[K" ]
    sed '$d' "$T/lines" >"$T/status"
    [ -s "$T/status" ]
    run ! grep -v -E "^wp-fetchlogs: [0-2]/2 hosts, [0-2] files?, [0-9.]+ (B|KiB|MiB)(, [0-9.]+ (B|KiB|MiB)/s)?$esc\[K\$" "$T/status"
    # the last one: both hosts and files done, every byte counted (the same
    # binary units, worked out by awk)
    local human
    human=$(awk -v n="$total" 'BEGIN { split("B KiB MiB GiB", u, " "); i = 1; while (n >= 1024 && i < 4) { n /= 1024; i++ }
        printf (i == 1 ? "%d %s" : "%.1f %s"), n, u[i] }')
    [[ "$(tail -n 1 "$T/status")" == "wp-fetchlogs: 2/2 hosts, 2 files, $human, "*"/s$esc[K" ]]
    # the count went up host by host, and a rate was shown on the way
    grep -q "^wp-fetchlogs: 1/2 hosts, 1 file, " "$T/status"
    grep -q -E "^wp-fetchlogs: [01]/2 hosts, [01] files?, [0-9.]+ (KiB|MiB), [0-9.]+ (KiB|MiB)/s" "$T/status"
    grep -q -E "^wp-fetchlogs: 1/2 hosts, 1 file, [0-9.]+ MiB, 0 B/s$esc\[K\$" "$T/status"
    cmp "$SPOOL"/host2/*.log <(echo 'host2 line')
    [ "$(stat -c %s "$SPOOL"/host1/*.log)" -eq 24000000 ]
}

@test "--dry-run connects and lists what a run would do, and changes nothing on the host or here" {
    start_fleet --hosts 2 --base 127.0.51
    add_host host1 "touch $FLEET_LOG_host1"
    add_host host2 "touch $FLEET_LOG_host2"
    printf 'a\nb\n' >"$FLEET_LOG_host1"
    printf 'left\n' >"$FLEET_LOG_host1.wp-20261124T230000Z"
    : >"$FLEET_LOG_host2"
    local before
    before=$(cd "$T/fleet" && find host1/log host2/log -printf '%p %s %T@\n' | sort)
    sqlite3 "$DB" .dump >"$T/db.before"

    run --separate-stderr "$FETCH" --dry-run --transfer sftp
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$stderr" ]
    [ "$output" = "host1: would claim $FLEET_LOG_host1 (4 bytes), run touch $FLEET_LOG_host1, fetch it
host1: would fetch $FLEET_LOG_host1.wp-20261124T230000Z (claimed earlier)
host1: transfer: sftp
host2: would leave $FLEET_LOG_host2 alone: empty
host2: transfer: sftp" ]
    # nothing renamed, written or deleted on the hosts; no spool, no lock, no host_status
    [ "$(cd "$T/fleet" && find host1/log host2/log -printf '%p %s %T@\n' | sort)" = "$before" ]
    [ ! -e "$SPOOL" ]
    sqlite3 "$DB" .dump | diff "$T/db.before" -

    # a real run then does just that
    run --separate-stderr "$FETCH" --transfer sftp
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(cat "$SPOOL"/host1/*.log)" = "left
a
b" ]
}
