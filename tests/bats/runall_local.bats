#!/usr/bin/env bats
# wp-runall without a fleet: the command line, selection and output of
# --local runs (a local command once per host), settings checked before any
# host is touched. Address block 127.0.63.* belongs to this file (nothing
# listens there).
bats_require_minimum_version 1.5.0

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    RUNALL=$BIN/wp-runall
    HOSTS=$BIN/wp-hosts
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-runall-local.XXXXXX")
    DB=$T/wp.db
    export WP_CONFIG=$T/wp.conf
    printf '%s = %s\n' db "$DB" connect-timeout 2 >"$WP_CONFIG"
    local h
    for h in web01 web02 web03; do
        "$HOSTS" add "$h" --address 127.0.63.1 --port 1
    done
}

teardown() {
    rm -rf "$T"
}

@test "'-' reads the names from stdin, and options after it are still options" {
    run --separate-stderr bash -c "echo web01 | '$RUNALL' - --list"
    [ "$status" -eq 0 ]
    [ "$output" = web01 ]
    [ -z "$stderr" ]
    run --separate-stderr bash -c "printf 'web01 web02\nweb03\n' | '$RUNALL' - -x web02 -q --local echo hi"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '== web01 ==\nweb01 hi\n== web03 ==\nweb03 hi')" ]
    [ -z "$stderr" ]
    # after '--' every word is the command's
    run --separate-stderr bash -c "echo web03 | '$RUNALL' - -q --local echo -- --list"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '== web03 ==\nweb03 --list')" ]
    run --separate-stderr bash -c "echo web01 | '$RUNALL' - --frobnicate"
    [ "$status" -eq 64 ]
    [[ "${stderr_lines[0]}" == "wp-runall: "*"--frobnicate" ]] # CLI11's words for an unknown option
}

@test "an identity file that is missing is a configuration error (78), before any host is touched" {
    run --separate-stderr "$RUNALL" --identity "$T/nonexistent" -H web01 -- true
    [ "$status" -eq 78 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-runall: cannot read identity $T/nonexistent: No such file or directory" ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM host_status')" = 0 ]
}

@test "--gather with --outdir is refused: the files are instead of the terminal" {
    run --separate-stderr "$RUNALL" --gather --outdir "$T/out" --local echo
    [ "$status" -eq 64 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-runall: --gather prints to the terminal and --outdir writes files instead: give one of them" ]
    [ ! -e "$T/out" ]
    run --separate-stderr "$RUNALL" -q --outdir "$T/out" --local echo
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ "$(cat "$T/out/web02.out")" = web02 ]
}

@test "a server named with -H is tried even when known to be down, with a note" {
    sqlite3 "$DB" "INSERT INTO host_status(server_id, last_error, last_error_at, consecutive_failures)
        SELECT id, 'connect: Connection refused', 1764003600, 5 FROM servers WHERE name = 'web02'"
    run --separate-stderr "$RUNALL" -H web02 --local echo
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '== web02 ==\nweb02')" ]
    [ "${stderr_lines[0]}" = "wp-runall: note: web02 is known to be down (5 consecutive failures); tried because -H names it" ]
    run --separate-stderr "$RUNALL" -H web01,web02 --list
    [ "$status" -eq 0 ]
    [ "$output" = "web[01-02]" ]
    # a range names it too; a glob's matches are not named one by one
    run --separate-stderr "$RUNALL" -H 'web[02-03]' --local echo
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '== web02 ==\nweb02\n== web03 ==\nweb03')" ]
    [ "${stderr_lines[0]}" = "wp-runall: note: web02 is known to be down (5 consecutive failures); tried because -H names it" ]
    run --separate-stderr "$RUNALL" -q -H 'web0?' --local echo
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '== web01 ==\nweb01\n== web03 ==\nweb03')" ]
    # not named: skipped as before
    run --separate-stderr "$RUNALL" -q --local echo
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '== web01 ==\nweb01\n== web03 ==\nweb03')" ]
}

@test "--ssh-config: a keyword OpenSSH does not know is warned about, naming file and line" {
    cat >"$T/ssh_config" <<'CONF'
# test
Host web01
    Frobnicate yes
    HostName 127.0.63.1
IgnoreUnknown UseKeychain,Add*
UseKeychain yes
AddThing no
Port=1
CONF
    run --separate-stderr "$RUNALL" --ssh-config "$T/ssh_config" -H web01 -- true
    [ "${stderr_lines[0]}" = "wp-runall: warning: $T/ssh_config: line 3: unknown ssh_config keyword 'Frobnicate', ignored" ]
    [ "$(printf '%s\n' "${stderr_lines[@]}" | grep -c 'ssh_config keyword')" -eq 1 ]
    [ "$status" -eq 69 ]
}
