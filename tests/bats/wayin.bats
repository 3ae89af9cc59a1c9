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
        [ "$stderr" = "$tool: no database at $T/none.db: a new installation makes one by adding its first server ('wp-hosts add NAME --address ADDRESS'); else give --db or db = in wp.conf (see wp(7))" ]
        [ ! -e "$T/none.db" ]
    done
}

# complete_words WORD...: what bash-completion, with share/bash-completion/wp
# sourced into a real bash, puts in COMPREPLY for the command line WORD...
# (the last word is the one being completed), one per line, sorted; the tools
# found on PATH as an operator's are.
complete_words() { complete_words_with : "$@"; }

# complete_words_with SHELL-CODE WORD...: the same in a shell that ran
# SHELL-CODE first (an operator's shopt, say)
complete_words_with() {
    PATH="$BIN:$PATH" bash --norc --noprofile -c '
        source /usr/share/bash-completion/bash_completion || exit 1
        source "$1" || exit 1
        eval "$2"
        shift 2
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        complete -p "$1" >/dev/null || exit 1
        _wp "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort' bash "$SRC/share/bash-completion/wp" "$@"
}

# the fixture's inventory: tor1, tor2, lon1 in $DB; ams1 in $T/other.db
completion_site() {
    [ -r /usr/share/bash-completion/bash_completion ] || {
        [ "${CI:-}" != true ] || { echo "bash-completion is not installed (make -f Makefile.dist deps)"; return 1; }
        skip "bash-completion is not installed (make -f Makefile.dist deps)"
    }
    local h
    for h in tor1 tor2 lon1; do "$HOSTS" add "$h" --address 192.0.2.1; done
    "$HOSTS" --db "$T/other.db" add ams1 --address 192.0.2.2
}

@test "completion: commands and options come from the tool itself" {
    completion_site
    run complete_words wp-hosts st
    [ "$status" -eq 0 ] && [ "$output" = status ]
    run complete_words wp-rollup ''
    [ "$output" = "$(printf '%s\n' invoice quota report)" ]
    run complete_words wp-hosts list --fo
    [ "$output" = --format ]
    # after a command: its options, and the shared ones (not the tool's own refresh options)
    run complete_words wp-rollup report --s
    [ "$output" = "$(printf '%s\n' --server --si --spool --ssh-user)" ]
    run complete_words wp-fetchlogs --tr
    [ "$output" = --transfer ]
    # the remote command's words after -- are not ours, options and values alike
    run complete_words wp-runall -- ls -
    [ "$status" -eq 0 ] && [ -z "$output" ]
    run complete_words wp-runall -- tail -x ''
    [ "$status" -eq 0 ] && [ -z "$output" ]
    # the tool's own options follow its command (wp-provision plan --name, wp-rollup report --tz),
    # but not wp-rollup's refresh options, which report refuses
    run complete_words wp-provision plan --n
    [ "$output" = "$(printf '%s\n' --name --no-ask)" ]
    run complete_words wp-rollup report --t
    [ "$output" = "$(printf '%s\n' --to --top --totals --tz)" ]
    run complete_words wp-rollup report --d
    [ "$output" = "$(printf '%s\n' --day --db)" ]
    # an option whose value nothing knows gets no guess
    run complete_words wp-hosts set tor1 --city ''
    [ "$status" -eq 0 ] && [ -z "$output" ]
}

@test "completion: option values (--by keys, formats, --transfer, --virt)" {
    completion_site
    run complete_words wp-rollup report --by ''
    [ "$output" = "$(printf '%s\n' account city country day hour month provider server user)" ]
    run complete_words wp-rollup report --by user,d
    [ "$output" = user,day ]
    run complete_words wp-rollup report --format ''
    [ "$output" = "$(printf '%s\n' csv json table tsv)" ]
    run complete_words wp-rollup invoice --format h
    [ "$output" = html ]
    run complete_words wp-fetchlogs --transfer ''
    [ "$output" = "$(printf '%s\n' auto sftp zstd)" ]
    run complete_words wp-fetchlogs --transfer=z
    [ "$output" = zstd ]
    run complete_words wp-hosts add tor9 --virt o
    [ "$output" = openvz ]
}

@test "completion: host names from the inventory, of the database on the command line" {
    completion_site
    run complete_words wp-runall -H t
    [ "$output" = "$(printf '%s\n' tor1 tor2)" ]
    run complete_words wp-runall -H tor1,l
    [ "$output" = tor1,lon1 ]
    run complete_words wp-hosts set ''
    [ "$output" = "$(printf '%s\n' lon1 tor1 tor2)" ]
    run complete_words wp-fetchlogs --db "$T/other.db" -H ''
    [ "$output" = ams1 ]
    # a --db path as typed: quoted, or with a backslashed blank
    mkdir "$T/my dir"
    cp "$T/other.db" "$T/my dir/x.db"
    run complete_words wp-hosts --db "'$T/my dir/x.db'" set ''
    [ "$output" = ams1 ]
    run complete_words wp-hosts --db "${T// /\\ }/my\\ dir/x.db" set ''
    [ "$output" = ams1 ]
    run complete_words wp-provision apply ''
    [ "$output" = "$(printf '%s\n' lon1 tor1 tor2)" ]
    # a database that is not there completes nothing, and says nothing
    run --separate-stderr complete_words wp-hosts --db "$T/none.db" set ''
    [ "$status" -eq 0 ] && [ -z "$output" ] && [ -z "$stderr" ]
    [ ! -e "$T/none.db" ]
}

# install_tree: the build installed under $T/root (DESTDIR); sets PREFIX to
# the installation prefix and R to where it lies under $T/root.
install_tree() {
    PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BIN/CMakeCache.txt")
    [ -n "$PREFIX" ]
    DESTDIR="$T/root" cmake --install "$BIN" >/dev/null
    R=$T/root$PREFIX
}

@test "installed: wp(7), the example wp.conf, the cycle, its units and cron line, the completions" {
    install_tree
    local tool
    for tool in $TOOLS; do
        [ -x "$R/bin/$tool" ]
        [ -f "$R/share/man/man1/$tool.1" ]
        cmp "$SRC/share/bash-completion/wp" "$R/share/bash-completion/completions/$tool"
    done
    cmp "$SRC/man/wp.7" "$R/share/man/man7/wp.7"
    cmp "$BIN/share/wp.conf.example" "$R/share/doc/wp-tools/wp.conf.example"
    [ "$(grep -c "^#rules = $PREFIX/share/wp/billing.rules\$" "$R/share/doc/wp-tools/wp.conf.example")" -eq 1 ]
    [ -x "$R/libexec/wp/wp-cycle" ]
    # The unit and the cron line run the installed cycle, which takes its lock itself.
    [ "$(grep '^ExecStart=' "$R/share/wp/systemd/wp-cycle.service")" = "ExecStart=/bin/sh $PREFIX/libexec/wp/wp-cycle" ]
    [ "$(grep -v '^#' "$R/share/wp/cron.d/wp-cycle" | grep -v '^[A-Z]*=')" = "5    *  *   *   *   wp   $PREFIX/libexec/wp/wp-cycle" ]
    local path
    path=$(printf '%s\n' "$PREFIX/bin" /usr/local/bin /usr/bin /bin | awk '!seen[$0]++' | paste -sd:)
    [ "$(grep '^PATH=' "$R/share/wp/cron.d/wp-cycle")" = "PATH=$path" ]
    [ "$(grep '^Environment=PATH=' "$R/share/wp/systemd/wp-cycle.service")" = "Environment=PATH=$path" ]
    [ "$(grep '^MAILTO=' "$R/share/wp/cron.d/wp-cycle")" = "MAILTO=root" ]
    [ "$(grep '^lock=' "$R/libexec/wp/wp-cycle")" = 'lock=${WP_CYCLE_LOCK:-/var/lib/wp/wp-cycle.lock}' ]
    # wp(7) renders for man(1) from where it was installed
    MANPATH="$R/share/man" man -w wp.7 >/dev/null
}

@test "the units verify with systemd-analyze, their man pages found" {
    command -v systemd-analyze >/dev/null || {
        [ "${CI:-}" != true ] || { echo "systemd-analyze is missing (make -f Makefile.dist deps)"; false; }
        skip "systemd-analyze is missing (make -f Makefile.dist deps)"
    }
    install_tree
    run env MANPATH="$R/share/man" systemd-analyze verify "$R/share/wp/systemd/wp-cycle.service" \
        "$R/share/wp/systemd/wp-cycle.timer"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ -z "$output" ]
    # and a unit whose command is not there does not: verify is no rubber stamp
    sed 's|^ExecStart=/bin/sh|ExecStart=/bin/no-such-sh|' "$R/share/wp/systemd/wp-cycle.service" \
        >"$T/wp-cycle.service"
    run env MANPATH="$R/share/man" systemd-analyze verify "$T/wp-cycle.service"
    [ "$status" -ne 0 ] && [[ "$output" == *"/bin/no-such-sh is not executable"* ]]
}

@test "the cycle: a server that cannot be fetched holds back no bill; silent but its status; never two at once" {
    install_tree
    local cycle="$R/libexec/wp/wp-cycle"
    export WP_CYCLE_LOCK=$T/cycle.lock
    printf 'connect-timeout = 2\n' >>"$WP_CONFIG"
    # tor1 refuses connections: the fetch fails (69); lon1's file waits in the spool
    "$HOSTS" add tor1 --address 127.0.0.1 --port 9
    "$HOSTS" add lon1 --address 127.0.0.1 --port 9 --inactive
    "$GEN" --lines 3000 --span 7200 --seed 5 >"$T/a.log"
    spool_file lon1 lon1.a.log <"$T/a.log"

    # another cycle holds the lock: this one says so, exits 75 and does nothing
    run --separate-stderr flock "$T/cycle.lock" env PATH="$BIN:$PATH" "$cycle"
    [ "$status" -eq 75 ] && [ -z "$output" ]
    [ "$stderr" = "wp-cycle: the previous cycle still runs (it holds $T/cycle.lock): this one is skipped" ]
    [ -f "$T/spool/lon1/lon1.a.log" ]
    # a lock whose directory is not there
    run --separate-stderr env WP_CYCLE_LOCK="$T/none/cycle.lock" PATH="$BIN:$PATH" "$cycle"
    [ "$status" -eq 73 ]
    [ "$stderr" = "wp-cycle: cannot open the lock file $T/none/cycle.lock (make its directory, owned by the user the cycle runs as)" ]

    run --separate-stderr env PATH="$BIN:$PATH" "$cycle"
    [ "$status" -eq 69 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-fetchlogs: no server answered (1 tried): tor1: connect: Connection refused" ]
    # billed as awk bills it, summarised, and gone from the spool
    [ ! -e "$T/spool/lon1/lon1.a.log" ]
    "$ORACLE" "$T/a.log" | awk -F'\t' '{ b[$1] += $5 } END { for (u in b) print u "\t" b[u] }' | LC_ALL=C sort >"$T/expect"
    sqlite3 -separator $'\t' "$DB" "SELECT u.name, sum(d.billed_bytes) FROM sum_usage_daily d JOIN users u
        ON u.id = d.user_id GROUP BY u.name" | LC_ALL=C sort >"$T/got"
    [ -s "$T/expect" ]
    diff "$T/expect" "$T/got"

    # a cycle where every step succeeds says nothing and exits 0
    "$HOSTS" set tor1 --inactive
    run env PATH="$BIN:$PATH" "$cycle"
    [ "$status" -eq 0 ] && [ -z "$output" ]
}

@test "completion: user names are data: never run, never globbed, inserted quoted" {
    completion_site
    mkdir "$T/cwd" && touch "$T/cwd/bobfile"
    local hostile='a$(touch '"$T"'/PWNED)' u
    for u in "$hostile" 'bob*' 'carol smith'; do
        "$BIN/wp-users" set "$u" --account acme
    done
    cd "$T/cwd"
    run complete_words wp-users show ''
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '%q\n' "$hostile" 'bob*' 'carol smith' | LC_ALL=C sort)" ]
    [ ! -e "$T/PWNED" ]
    run complete_words wp-users show b
    [ "$output" = 'bob\*' ]
    # with the user's failglob on, still no glob and no error
    run --separate-stderr complete_words_with 'shopt -s failglob' wp-users show ''
    [ "$status" -eq 0 ] && [ -z "$stderr" ]
    [ "$output" = "$(printf '%q\n' "$hostile" 'bob*' 'carol smith' | LC_ALL=C sort)" ]
    [ ! -e "$T/PWNED" ]
    # the names come from the cheap listing: users only, not their usage
    run "$BIN/wp-users" list --names
    [ "$output" = "$(printf '%s\n' "$hostile" 'bob*' 'carol smith')" ]
}

@test "completion: without bash-completion's helpers it completes nothing, and says nothing" {
    run --separate-stderr bash --norc --noprofile -c '
        source "$1" || exit 1
        COMP_WORDS=(wp-hosts st); COMP_CWORD=1; COMP_LINE="wp-hosts st"; COMP_POINT=11
        _wp wp-hosts st wp-hosts
        echo "rc=$? n=${#COMPREPLY[@]}"' bash "$SRC/share/bash-completion/wp"
    [ "$status" -eq 0 ] && [ "$output" = "rc=0 n=0" ] && [ -z "$stderr" ]
}
