#!/usr/bin/env bats
# The short whole-cycle torture (tests/torture/torture): real Squids, the tools
# SIGKILLed at random moments 50 times, sshd sessions killed and stopped; every
# line billed and archived exactly once, as the untouched truth logs say.
bats_require_minimum_version 1.5.0

@test "whole-cycle torture: 50 kills, every line billed and archived exactly once" {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    if ! command -v squid >/dev/null; then
        [ "${CI:-}" != true ] || { echo "squid is missing under CI=true" >&2; false; }
        skip "squid is not installed"
    fi
    run --separate-stderr "$SRC/tests/torture/torture" "$BIN" --kills 50 --base 127.0.71
    echo "$output" >&3
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [[ "$output" == *", 0 lost, 0 double-billed" ]]
}
