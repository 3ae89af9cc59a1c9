#!/usr/bin/env bats
# The way in: what a new operator meets first. Every --help names the pages
# to read, a missing database says how to make one, the example wp.conf is
# one every tool accepts, the systemd units verify, and bash completes.
bats_require_minimum_version 1.5.0

load site

TOOLS="wp-fetchlogs wp-hosts wp-parse wp-provision wp-rollup wp-runall wp-users"

setup() {
    make_test_site wayin
}

teardown() {
    rm -rf "$T"
}

# subcommands TOOL: the commands TOOL --help lists, one per line
subcommands() {
    "$BIN/$1" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'
}

@test "every --help, each command's included, ends with 'See wp-X(1) and wp(7).'" {
    local tool sub n=0
    for tool in $TOOLS; do
        run --separate-stderr "$BIN/$tool" --help
        [ "$status" -eq 0 ]
        [ "$(printf '%s\n' "$output" | tail -n 1)" = "See $tool(1) and wp(7)." ] || { echo "$tool: $output"; false; }
        for sub in $(subcommands "$tool"); do
            run --separate-stderr "$BIN/$tool" "$sub" --help
            [ "$status" -eq 0 ]
            [ "$(printf '%s\n' "$output" | tail -n 1)" = "See $tool(1) and wp(7)." ] || { echo "$tool $sub: $output"; false; }
            n=$((n + 1))
        done
    done
    # wp-hosts, wp-provision, wp-rollup and wp-users have commands: the loop saw them
    [ "$n" -ge 15 ]
}

@test "a missing database names how to make one, for every tool that needs one, and is 66" {
    local tool args
    for args in "wp-hosts list" "wp-hosts status" "wp-users list" "wp-rollup report --totals" "wp-fetchlogs" \
        "wp-runall --list"; do
        # shellcheck disable=SC2086
        run --separate-stderr "$BIN"/$args --db "$T/none.db"
        [ "$status" -eq 66 ] || { echo "$args -> $status $stderr"; false; }
        tool=${args%% *}
        [ "$stderr" = "$tool: no database at $T/none.db: give --db (or db = in wp.conf), or make one by adding the first server with 'wp-hosts add NAME --address ADDRESS' (see wp(7))" ]
        [ ! -e "$T/none.db" ]
    done
}
