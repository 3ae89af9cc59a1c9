#!/usr/bin/env bats
# The bats harness itself (ctest bats-harness): run-bats, which gives ctest a
# suite's skips, and lint-bats, which rejects what cannot fail a test. Their
# fixtures (fixtures/) are no suites of the check. Oracles: the fixtures' own
# @test lines and their BAD and DUP markers.
bats_require_minimum_version 1.5.0

setup() {
    HARNESS=$BATS_TEST_DIRNAME
    FIXTURES=$HARNESS/fixtures
    BATS=$(command -v bats)
    cd "$FIXTURES"
}

# suite_run [CI=VALUE] FIXTURE: run-bats on the fixture, with CI unset unless given
suite_run() {
    local ci=()
    if [[ $1 == CI=* ]]; then
        ci=("$1")
        shift
    fi
    run --separate-stderr env -u CI "${ci[@]}" "$HARNESS/run-bats" "$BATS" "$1"
}

# test_names FIXTURE: its tests' names, in order
test_names() {
    sed -n 's/^@test "\(.*\)" {$/\1/p' "$1"
}

@test "every test skipped: 77, so ctest shows the suite skipped; the skipped tests named with their reasons" {
    suite_run all-skip.bats
    [ "$status" -eq 77 ]
    [ "${lines[0]}" = "1..3" ]
    [ "$(grep -c '^ok [0-9]* .* # skip' <<<"$output")" -eq 3 ]
    [ "${stderr_lines[0]}" = "run-bats: all-skip.bats: every test skipped (3):" ]
    [ "${#stderr_lines[@]}" -eq 4 ]
    [ "$(printf '%s\n' "${stderr_lines[@]:1}" | sed 's/^  //; s/ (.*)$//')" = "$(test_names all-skip.bats)" ]
    [ "${stderr_lines[1]}" = "  skipped with a reason (squid is not installed)" ]
    [ "${stderr_lines[2]}" = "  skipped without one" ]
    [ "${stderr_lines[3]}" = "  skipped by setup (setup says no)" ]
    # bats's own status is 0: what made the skip invisible to ctest
    run bats --tap all-skip.bats
    [ "$status" -eq 0 ]
}

@test "some tests skipped: 0, the others passed; the skipped named" {
    suite_run some-skip.bats
    [ "$status" -eq 0 ]
    [ "$stderr" = "$(printf '%s\n' "run-bats: some-skip.bats: 1 of 3 tests skipped, the other 2 passed:" \
        "  skips (strace is not installed)")" ]
}

@test "under CI=true any skip fails the suite, naming the skipped tests; a suite without skips passes" {
    suite_run CI=true all-skip.bats
    [ "$status" -eq 1 ]
    [ "${stderr_lines[0]}" = "run-bats: all-skip.bats: 3 of 3 tests skipped, and under CI=true nothing may be:" ]
    [ "$(printf '%s\n' "${stderr_lines[@]:1}" | sed 's/^  //; s/ (.*)$//')" = "$(test_names all-skip.bats)" ]

    suite_run CI=true some-skip.bats
    [ "$status" -eq 1 ]
    [ "$stderr" = "$(printf '%s\n' "run-bats: some-skip.bats: 1 of 3 tests skipped, and under CI=true nothing may be:" \
        "  skips (strace is not installed)")" ]

    suite_run CI=true pass.bats
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    # only "true" is CI's word
    suite_run CI=1 all-skip.bats
    [ "$status" -eq 77 ]
}

@test "every test passed: 0, bats's TAP and nothing else" {
    suite_run pass.bats
    [ "$status" -eq 0 ]
    [ "$output" = "$(bats --tap pass.bats)" ]
    [ -z "$stderr" ]
}

@test "a failed test fails the suite, skips or not; a suite without a test fails" {
    suite_run fail.bats
    [ "$status" -eq 1 ]
    [ "${lines[1]}" = "not ok 1 fails" ]
    suite_run CI=true fail.bats
    [ "$status" -eq 1 ]

    suite_run no-test.bats
    [ "$status" -eq 1 ]
    [ "$stderr" = "run-bats: no-test.bats holds no test" ]

    run "$HARNESS/run-bats" "$BATS"
    [ "$status" -eq 64 ]
}

@test "lint: each '!' statement reported at its line, and only those; bats confirms none of them can fail" {
    run "$HARNESS/lint-bats" negations.bats
    [ "$status" -eq 1 ]
    diff <(printf '%s\n' "${lines[@]}" | cut -d: -f1,2) <(grep -n '# BAD' negations.bats | cut -d: -f1 | sed 's/^/negations.bats:/')
    [[ "${lines[0]}" == "negations.bats:"*": a '!' statement never fails a bats test (set -e ignores it): use 'run !', or a check that fails"* ]]
    # the fixture's first test holds them all, each negating a success, and passes
    run bats --tap negations.bats
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "ok 1 statements that never fail" ]
}

@test "lint: a function defined twice, in one file or two, reported at each definition; each file's bats hooks are its own" {
    run "$HARNESS/lint-bats" dup/one.bats dup/two.bats dup/site.bash
    [ "$status" -eq 1 ]
    diff <(printf '%s\n' "${lines[@]}" | cut -d: -f1,2) <(grep -n '# DUP' dup/one.bats dup/site.bash dup/two.bats | cut -d: -f1,2)
    grep -qxF "dup/one.bats:8: function shared is also defined at dup/two.bats:6: define a shared helper once, in site.bash, and give another its own name" <<<"$output"
    grep -qxF "dup/site.bash:3: function kw is also defined at dup/one.bats:11: define a shared helper once, in site.bash, and give another its own name" <<<"$output"
}

@test "lint: a clean file passes silently; an unreadable one is an error, 2" {
    run --separate-stderr "$HARNESS/lint-bats" pass.bats all-skip.bats
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
    run --separate-stderr "$HARNESS/lint-bats" missing.bats
    [ "$status" -eq 2 ]
    [ "$stderr" = "lint-bats: cannot read missing.bats: No such file or directory" ]
}
