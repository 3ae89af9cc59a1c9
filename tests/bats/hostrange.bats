#!/usr/bin/env bats
# Host ranges against pdsh itself (Debian's pdsh, whose hostlist library
# ClusterShell's nodeset follows): the names wp-runall's selection expands a
# list to are the hosts pdsh runs a command for, and --list folds them back
# as pdsh folds its target list. pdsh runs nothing remote here (-R exec runs
# `echo %h` on this machine); wp-runall --list contacts nobody.
bats_require_minimum_version 1.5.0

load site

setup() {
    make_test_site hostrange
    RUNALL=$BIN/wp-runall
    command -v pdsh >/dev/null || {
        [ "${CI:-}" != true ] || { echo "pdsh is not installed (make -f Makefile.dist deps)"; return 1; }
        skip "pdsh is not installed (make -f Makefile.dist deps)"
    }
    # every name the lists below can expand to, in the inventory
    {
        echo name,address
        pdsh -N -R exec -w 'tor[1-12],tor[01-03],web[095-105],a[1-3],b[1-4],c7,n[01-02],n[8-11],ams[001-003]' echo '%h,192.0.2.1'
    } >"$T/servers.csv"
    "$HOSTS" import "$T/servers.csv"
}

teardown() {
    rm -rf "$T"
}

# pdsh_hosts ARGS...: the hosts pdsh would run on, one per line, sorted
pdsh_hosts() { pdsh -N -R exec "$@" echo %h | LC_ALL=C sort; }
# pdsh_folded ARGS...: pdsh's own folded target list
pdsh_folded() { pdsh -R exec -q "$@" | awk '/^-- Target nodes --/ { getline; print }'; }

@test "ranges expand to the hosts pdsh runs on, and fold as pdsh folds them" {
    local l n=0
    for l in 'tor[1-4,7]' 'tor[01-03]' 'web[098-101]' 'a[1-3],b[2-4],c7' 'tor[1-12]' 'n[8-11],n[01-02]' \
        'ams[001-003],tor[10-12]' 'web[095-099,101-105]'; do
        run --separate-stderr "$RUNALL" -H "$l" --list-each
        [ "$status" -eq 0 ] || { echo "$l: $stderr"; false; }
        [ "$(LC_ALL=C sort <<<"$output")" = "$(pdsh_hosts -w "$l")" ] || { echo "$l: $output"; false; }
        n=$((n + 1))
    done
    [ "$n" -eq 8 ]
    # folding: the same text as pdsh's target list (where paddings mix, pdsh
    # writes n[8-11,01-02] and we keep widths apart: n[01-02,10-11],n[8-9])
    for l in 'tor[1-4,7]' 'web[098-101]' 'a[1-3],b[2-4],c7' 'tor[1-12]' 'web[095-099,101-105]'; do
        run --separate-stderr "$RUNALL" -H "$l" --list
        [ "$output" = "$(pdsh_folded -w "$l")" ] || { echo "$l: $output vs $(pdsh_folded -w "$l")"; false; }
    done
    run --separate-stderr "$RUNALL" -H 'n[8-11],n[01-02]' --list
    [ "$output" = 'n[01-02,10-11],n[8-9]' ]
    # which pdsh expands to the same hosts
    [ "$(pdsh_hosts -w "$output")" = "$(pdsh_hosts -w 'n[8-11],n[01-02]')" ]
}

@test "exclusions take ranges as pdsh -x does" {
    run --separate-stderr "$RUNALL" -H 'tor[1-9]' -x 'tor[3-5]' --list
    [ "$status" -eq 0 ]
    [ "$output" = "$(pdsh_folded -w 'tor[1-9]' -x 'tor[3-5]')" ]
    [ "$output" = 'tor[1-2,6-9]' ]
    run --separate-stderr "$RUNALL" -H 'tor[1-12]' -x 'tor[2-11/3]' --list-each
    [ "$(LC_ALL=C sort <<<"$output")" = "$(printf '%s\n' tor1 tor10 tor12 tor3 tor4 tor6 tor7 tor9)" ]
}
