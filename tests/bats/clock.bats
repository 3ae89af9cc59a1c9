#!/usr/bin/env bats
# The host's clock, read at every contact (issue 17): wp-fetchlogs, wp-runall
# and wp-provision on the loopback fleet, one host of which reads 30 s ahead
# (fleet --clock-ahead: a date(1) shim first on that host's PATH, which keeps
# the nanoseconds). Oracles: the shim's own 30 s, sqlite3 on host_status,
# printf for the table's text, the bytes a command prints run here.
# Address block 127.0.117.* belongs to this file.
bats_require_minimum_version 1.5.0
load site

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    FETCH=$BIN/wp-fetchlogs
    HOSTS=$BIN/wp-hosts
    RUNALL=$BIN/wp-runall
    PROV=$BIN/wp-provision
    FLEET=$SRC/tests/fleet/fleet
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-clock-bats.XXXXXX")
    chmod 711 "$T"
    mkdir "$T/fleet"
    DB=$T/wp.db
    SPOOL=$T/spool
    ADD_FLEET_HOSTS=yes
    start_fleet --hosts 3 --base 127.0.117 --clock-ahead host2=30
}

teardown() {
    stop_fleet
    rm -rf "$T"
}

# clock HOST: offset|uncertainty|measured_at of HOST's last reading
clock() {
    sqlite3 "$DB" "SELECT h.clock_offset_ms || '|' || h.clock_uncertainty_ms || '|' || h.clock_measured_at
        FROM host_status h JOIN servers s ON s.id = h.server_id WHERE s.name = '$1'"
}

# within HOST EXPECTED_MS: HOST's recorded offset is EXPECTED_MS within its
# uncertainty, plus 1 ms for the rounding to whole milliseconds
within() {
    local off unc at
    IFS='|' read -r off unc at <<<"$(clock "$1")"
    [ -n "$off" ] || { echo "$1: no reading"; return 1; }
    local d=$((off - $2))
    ((d < 0)) && d=$((-d))
    ((d <= unc + 1)) || { echo "$1: offset $off ms, uncertainty $unc ms: not $2"; return 1; }
}

@test "clock offsets: the host 30 s ahead is measured within its uncertainty, recorded, warned about once and shown by wp-hosts status; the others read near 0" {
    local h l
    for h in host1 host2 host3; do
        l=FLEET_LOG_$h
        printf 'a line of %s\n' "$h" >"${!l}"
    done
    local before after
    before=$(date +%s)
    run --separate-stderr "$FETCH"
    after=$(date +%s)
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$output" ]
    # one warning, naming host2 and only host2, with the measured figures
    local off unc at
    IFS='|' read -r off unc at <<<"$(clock host2)"
    [ "$stderr" = "$(printf "wp-fetchlogs: warning: host2: clock %d.%03d s ahead (\xc2\xb1%d.%03d s) of this collector's: its usage hours may be misbilled" \
        $((off / 1000)) $((off % 1000)) $((unc / 1000)) $((unc % 1000)))" ]
    within host2 30000
    within host1 0
    within host3 0
    for h in host1 host2 host3; do
        IFS='|' read -r off unc at <<<"$(clock "$h")"
        ((at >= before && at <= after))
        # fetched: its log is in the spool, and the fetch is recorded
        [ "$(cat "$SPOOL/$h/"$h.*.log)" = "a line of $h" ]
        [ "$(sqlite3 "$DB" "SELECT last_fetch BETWEEN $before AND $after FROM host_status h JOIN servers s
            ON s.id = h.server_id WHERE s.name = '$h'")" = 1 ]
    done
    echo "measured: $(for h in host1 host2 host3; do printf '%s=%s ' "$h" "$(clock "$h")"; done)" >&3

    # wp-hosts status: the exact milliseconds for scripts, signed seconds in a table
    local utc fetched
    run --separate-stderr "$HOSTS" status host2 --format tsv
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf 'name\tlast_contact\tlast_error\tlast_error_at\tconsecutive_failures\tlast_fetch\tclock_offset_ms\tclock_uncertainty_ms\tclock_measured_at')" ]
    IFS='|' read -r off unc at <<<"$(clock host2)"
    utc=$(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ)
    fetched=$(date -u -d "@$(sqlite3 "$DB" "SELECT last_fetch FROM host_status h JOIN servers s ON s.id = h.server_id WHERE s.name = 'host2'")" +%Y-%m-%dT%H:%M:%SZ)
    [[ "${lines[1]}" == "$(printf 'host2\t%s\t\t\t0\t%s\t%s\t%s\t%s' "$(date -u -d "@$(sqlite3 "$DB" "SELECT last_contact FROM host_status h JOIN servers s ON s.id = h.server_id WHERE s.name = 'host2'")" +%Y-%m-%dT%H:%M:%SZ)" "$fetched" "$off" "$unc" "$utc")" ]]
    run --separate-stderr "$HOSTS" status --format table
    [ "$status" -eq 0 ]
    local text
    text=$(printf '%+.2f s \xc2\xb1%d.%02d s' "$(awk -v o="$off" 'BEGIN { printf "%.3f", o / 1000 }')" \
        $((((unc + 9) / 10) / 100)) $((((unc + 9) / 10) % 100)))
    [[ "$output" == *"clock_offset"* ]]
    # the reading's age: seconds old (at most a minute: it was taken above)
    grep -qE "^host2 .*$text *$utc +([0-9]|[1-5][0-9]|60)s\$" <<<"$output" || { echo "$output"; echo "want: $text $utc"; false; }
    [[ "$text" == "+30.0"* || "$text" == "+29.99"* ]]

    # a larger limit in wp.conf: the same run is quiet
    printf 'max-clock-offset = 60\n' >>"$WP_CONFIG"
    run --separate-stderr "$FETCH"
    [ "$status" -eq 0 ]
    [ -z "$output$stderr" ]
    within host2 30000
}

@test "wp-runall reads the clock in the command it sends and shows the operator exactly the command's output" {
    local before
    before=$(date +%s)
    run --separate-stderr "$RUNALL" -H host2 -- 'printf "a\nb"'
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$output" = "== host2 ==
a
b" ]
    within host2 30000
    [ -z "$(clock host1)" ]

    # every host's .out is byte for byte what the command prints here; an
    # empty output, exit, stdin, a background command and a syntax error
    # (its line number too) are as before
    run --separate-stderr "$RUNALL" -j 3 --outdir "$T/out" -- 'printf "a\nb"'
    [ "$status" -eq 0 ]
    for h in host1 host2 host3; do
        cmp "$T/out/$h.out" <(printf 'a\nb')
    done
    within host1 0
    within host3 0
    within host2 30000
    run --separate-stderr "$RUNALL" -j 3 --outdir "$T/none" -- 'true'
    for h in host1 host2 host3; do
        [ ! -s "$T/none/$h.out" ]
    done
    run --separate-stderr "$RUNALL" -H host1 --outdir "$T/exit" -- 'echo one; exit 5; echo two'
    [ "$(cat "$T/exit/host1.out")" = one ]
    [ "$(cat "$T/exit/host1.rc")" = 5 ]
    printf 'x\ny\n' >"$T/stdin.sh"
    run --separate-stderr "$RUNALL" -H host3 --outdir "$T/script" --script "$T/stdin.sh"
    [ "$(cat "$T/script/host3.rc")" = 127 ]
    run --separate-stderr "$RUNALL" -H host1 --outdir "$T/bg" -- '(sleep 0.2; echo late) & echo now; wait'
    [ "$(cat "$T/bg/host1.out")" = "now
late" ]
    run --separate-stderr "$RUNALL" -H host1 --outdir "$T/syntax" -- 'echo no; if'
    [ ! -s "$T/syntax/host1.out" ]
    [ "$(cat "$T/syntax/host1.err")" = "$(/bin/sh -c 'echo no; if' 2>&1)" ]

    # a login shell that greets before our line: the greeting reaches the
    # operator as the shell printed it, the command's output unchanged after
    # it, and the clock is still read
    printf 'echo "Welcome to host3"\n' >"$T/fleet/host3/home/.bashrc"
    sqlite3 "$DB" "UPDATE host_status SET clock_offset_ms = NULL, clock_uncertainty_ms = NULL, clock_measured_at = NULL"
    run --separate-stderr "$RUNALL" -H host3 --outdir "$T/greet" -- 'printf "a\nb"'
    [ "$status" -eq 0 ]
    cmp "$T/greet/host3.out" <(printf 'Welcome to host3\na\nb')
    within host3 0
    rm "$T/fleet/host3/home/.bashrc"

    # a push alone reads it in the probe the push sends anyway
    sqlite3 "$DB" "UPDATE host_status SET clock_offset_ms = NULL, clock_uncertainty_ms = NULL, clock_measured_at = NULL"
    printf 'pushed\n' >"$T/file"
    mkdir "$T/dest"
    run --separate-stderr "$RUNALL" -H host2 --push "$T/file" "$T/dest/"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$(cat "$T/dest/file")" = pushed ]
    within host2 30000
    [ -z "$(clock host1)" ]
    [ "$(clock host2 | cut -d'|' -f3)" -ge "$before" ]
}

@test "wp-provision reads the clock with its facts: a failed facts step still records it, nothing on the host changed" {
    mkdir "$T/lists"
    cp -r "$SRC/share/packages" "$SRC/share/packages-blacklist" "$T/lists/"
    printf 'lists = %s\n' "$T/lists" >>"$WP_CONFIG"
    "$HOSTS" set host2 --ssh-user "$FLEET_USER"
    # The fleet's hosts are this machine: a dpkg-query that fails on host2
    # (first on its PATH, beside the clock shim) ends the run at the facts,
    # before any change. A login that is not root stops there as well.
    printf '#!/bin/sh\necho "dpkg-query: refused by the test" >&2\nexit 2\n' >"$T/fleet/host2/bin/dpkg-query"
    chmod 755 "$T/fleet/host2/bin/dpkg-query"
    run --separate-stderr "$PROV" apply host2 --no-ask
    [ "$status" -ne 0 ]
    [[ "$stderr" == *"host2: "*"facts"* ]] || { echo "$stderr"; false; }
    within host2 30000
    [ "$(sqlite3 "$DB" "SELECT consecutive_failures FROM host_status h JOIN servers s ON s.id = h.server_id WHERE s.name = 'host2'")" = 1 ]
}
