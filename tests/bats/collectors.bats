#!/usr/bin/env bats
# Several collectors billing into one PostgreSQL database (issue 18). Each
# collector has its own spool, archive and rejects and a collector = NAME;
# they run wp-parse at once. Oracles: awk over the generated lines
# (tests/tools/bill-awk), psql on the database, sha256sum and zstdcat.
# Needs WP_TEST_PG=postgresql://USER@ADDR:PORT/DB (ctest's fixture pg sets
# it); each test makes a database of its own there and drops it.
bats_require_minimum_version 1.5.0

load site

setup() {
    [ -n "${WP_TEST_PG:-}" ] ||
        skip "WP_TEST_PG is not set: the collectors share a PostgreSQL database (ctest's fixture pg sets it)"
    WP_TEST_DB=postgresql make_test_site wp-collectors-bats
    ROLLUP=$BIN/wp-rollup
    local c
    for c in c1 c2 c3; do
        mkdir -p "$T/$c"
        printf 'db = %s\nspool = %s\narchive = %s\nrejects = %s\ncollector = %s\n' \
            "$DB" "$T/$c/spool" "$T/$c/archive" "$T/$c/rejects" "$c" >"$T/$c/wp.conf"
    done
}

teardown() {
    [ -n "${T:-}" ] || return 0
    drop_test_site
}

# coll_add_server SERVER COLLECTOR: SERVER in the inventory, fetched by COLLECTOR
coll_add_server() {
    "$HOSTS" --config "$T/$2/wp.conf" add "$1" --collector "$2"
}

# coll_cat FILE...: the lines of each FILE, a .zst one decompressed
coll_cat() {
    local f
    for f in "$@"; do
        case $f in
            *.zst) zstdcat "$f" ;;
            *) cat "$f" ;;
        esac
    done
}

# coll_oracle SERVER FILE...: awk's "server user hour requests bytes billed"
# of the Squid lines of the FILEs (the generator's garbage lines left out:
# they are rejected, not billed), sorted
coll_oracle() {
    local s=$1
    shift
    coll_cat "$@" | grep -a '^[0-9]' | "$ORACLE" | awk -v s="$s" -v OFS='\t' '{ print s, $0 }' | LC_ALL=C sort
}

# coll_usage: the database's usage as "server user hour requests bytes billed", sorted
coll_usage() {
    db_sql -separator $'\t' "SELECT s.name, u.name, g.hour, g.requests, g.bytes, g.billed_bytes
        FROM usage g JOIN servers s ON s.id = g.server_id JOIN users u ON u.id = g.user_id" | LC_ALL=C sort
}

# coll_spool_files: the files waiting in the three spools (their lock files aside)
coll_spool_files() {
    find "$T"/c[123]/spool -type f ! -name .wp-parse.lock
}

# coll_no_file_lost: every generated file ($T/input/COLLECTOR/SERVER/NAME) is
# billed (its sha256 in the ledger) or still in its collector's spool
coll_no_file_lost() {
    db_sql 'SELECT sha256 FROM ingested_files' | LC_ALL=C sort >"$T/ledger.sha"
    local c s name lost=0
    while IFS=$'\t' read -r c s name sha; do
        [ -e "$T/$c/spool/$s/$name" ] && continue
        grep -qx "$sha" "$T/ledger.sha" && continue
        echo "$c/$s/$name ($sha): neither billed nor in the spool"
        lost=1
    done <"$T/input.sha"
    [ "$lost" -eq 0 ]
}

# coll_kill_round MAX: the three collectors' wp-parse at once, each killed
# by SIGKILL after its own random delay of up to MAX seconds; KILLS counts
# the runs killed, RUNS the runs
coll_kill_round() {
    local c pids=() pid rc delay
    for c in c1 c2 c3; do
        delay=$(awk -v m="$1" -v r="$RANDOM$RANDOM" 'BEGIN { srand(r); printf "%.3f", 0.01 + rand() * m }')
        # (bash reports a job killed: on the subshell's stderr, not shown)
        (timeout -s KILL "$delay" "$PARSE" --config "$T/$c/wp.conf" -j $((RANDOM % 2 + 1)) 2>>"$T/$c/stderr" || exit $?) 2>/dev/null &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do
        rc=0
        wait "$pid" || rc=$?
        RUNS=$((RUNS + 1))
        [ "$rc" -ne 137 ] || KILLS=$((KILLS + 1))
    done
}

@test "three collectors parsing at once into one database, SIGKILLed at random: totals equal awk's, each file billed once" {
    # 9 servers, three per collector; per server 6 files: across a UTC
    # midnight, garbage lines, escaped and spaced user names, IPv6 clients,
    # negative elapsed times (the generator's mix), few or many users, one
    # file with CRLF line ends and one zstd-compressed
    local i s c f seed=100 start=1764108000
    : >"$T/input.sha"
    for i in 1 2 3 4 5 6 7 8 9; do
        s=s$i c=c$(((i - 1) % 3 + 1))
        coll_add_server "$s" "$c"
        mkdir -p "$T/input/$c/$s"
        for f in 1 2 3 4 5 6; do
            seed=$((seed + 1))
            "$GEN" --lines 2500 --start $((start + f * 1500 + i * 60)) --span 1800 --seed $seed \
                --garbage 3 --users $((10 + (seed * 37) % 400)) >"$T/input/$c/$s/$s.$f.log"
        done
        sed -i 's/$/\r/' "$T/input/$c/$s/$s.5.log"
        zstd -q --rm "$T/input/$c/$s/$s.6.log"
        for f in "$T/input/$c/$s"/*; do
            printf '%s\t%s\t%s\t%s\n' "$c" "$s" "${f##*/}" "$(coll_cat "$f" | sha256sum | cut -d' ' -f1)" >>"$T/input.sha"
        done
    done
    for c in c1 c2 c3; do
        cp -r "$T/input/$c" "$T/$c/spool"
    done
    local files
    files=$(wc -l <"$T/input.sha")
    [ "$files" -eq 54 ]

    # Rounds of the three at once, each killed at a random moment, until the
    # spools are empty (or 5 rounds leave them as they were); no round may
    # lose a file.
    KILLS=0 RUNS=0
    local round=0 left before same=0
    left=$(coll_spool_files | wc -l)
    while [ "$left" -gt 0 ] && [ "$same" -lt 5 ] && [ "$round" -lt 80 ]; do
        round=$((round + 1))
        coll_kill_round 0.15
        coll_no_file_lost
        before=$left
        left=$(coll_spool_files | wc -l)
        if [ "$left" -eq "$before" ]; then same=$((same + 1)); else same=0; fi
    done
    echo "# $round rounds, $RUNS runs, $KILLS killed by SIGKILL, $left files left in the spools" >&3
    [ "$KILLS" -ge 10 ]
    # then one run each, at once, undisturbed: its status and warnings are
    # asserted last, after what the store holds
    for c in c1 c2 c3; do
        "$PARSE" --config "$T/$c/wp.conf" 2>"$T/$c/final.stderr" &
        eval "pid_$c=$!"
    done
    local p rc final=
    for c in c1 c2 c3; do
        p=pid_$c rc=0
        wait "${!p}" || rc=$?
        final+="$c $rc;"
    done
    coll_no_file_lost

    # per (server, user, hour): the awk oracle over every generated file
    for i in 1 2 3 4 5 6 7 8 9; do
        c=c$(((i - 1) % 3 + 1))
        coll_oracle "s$i" "$T/input/$c/s$i"/*
    done | LC_ALL=C sort >"$T/expect"
    coll_usage >"$T/got"
    diff "$T/expect" "$T/got"

    # each file billed exactly once, by its own server's collector
    [ "$(db_sql 'SELECT count(*), count(DISTINCT sha256) FROM ingested_files')" = "$files|$files" ]
    diff <(cut -f4 "$T/input.sha" | LC_ALL=C sort) <(db_sql 'SELECT sha256 FROM ingested_files' | LC_ALL=C sort)
    diff <(awk -F'\t' -v OFS='|' '{ print $4, $1, $2 }' "$T/input.sha" | LC_ALL=C sort) \
        <(db_sql 'SELECT f.sha256, f.collector, s.name FROM ingested_files f JOIN servers s ON s.id = f.server_id' | LC_ALL=C sort)
    # the rejected lines counted are the garbage lines
    [ "$(db_sql 'SELECT sum(rejected) FROM ingested_files')" -eq \
        "$(coll_cat "$T"/input/*/*/* | grep -ac '^garbage line')" ]

    # each archive holds exactly its own servers' lines, every file whole and
    # as long as committed
    for c in c1 c2 c3; do
        [ "$(ls "$T/$c/archive")" = "$(ls "$T/input/$c")" ]
        for s in $(ls "$T/input/$c"); do
            diff <(coll_cat "$T/input/$c/$s"/* | LC_ALL=C sort) \
                <(find "$T/$c/archive/$s" -type f -name '*.zst' -exec zstdcat {} + | LC_ALL=C sort) >/dev/null ||
                { echo "archive $c/$s differs from its input lines"; false; }
        done
        for f in $(find "$T/$c/archive" -type f -name '*.zst'); do
            zstd -t -q "$f"
            # (its row's path ends with the path in the archive, whatever
            # names the collector before it)
            [ "$(db_sql "SELECT committed_size FROM archive_files WHERE path LIKE '%${f#"$T/$c/archive/"}'")" = \
                "$(stat -c %s "$f")" ]
        done
    done
    [ "$(db_sql 'SELECT sum(committed_size) FROM archive_files')" -eq \
        "$(find "$T"/c[123]/archive -type f -name '*.zst' -exec stat -c %s {} + | awk '{ n += $1 } END { print n }')" ]

    # the summary built from it verifies
    "$ROLLUP" --config "$T/c1/wp.conf"
    run --separate-stderr "$ROLLUP" --config "$T/c2/wp.conf" --verify
    [ "$status" -eq 0 ] || { echo "$output$stderr"; false; }

    # every spool emptied, and the last runs ended well and quietly
    if [ -n "$(coll_spool_files)" ]; then
        echo "the spools still hold:"
        coll_spool_files
        tail -n 5 "$T"/c[123]/stderr
        false
    fi
    cat "$T"/c[123]/final.stderr
    [ "$final" = "c1 0;c2 0;c3 0;" ]
    # nothing but the garbage lines of files the kills left to these runs
    [ -z "$(cat "$T"/c[123]/final.stderr | grep -v ' lines not billed (first at line [0-9]*, not understood: garbage line ')" ]
}

# coll_dup_setup: server s1 of collector c1; the same 4000 lines as
# c1/spool/s1/s1.from-c1.log and c2/spool/s1/s1.from-c2.log; $T/expect awk's
coll_dup_setup() {
    coll_add_server s1 c1
    coll_add_server s2 c2
    "$GEN" --lines 4000 --start 1764111000 --span 7200 --seed 42 --garbage 2 --users 60 >"$T/a.log"
    mkdir -p "$T/c1/spool/s1" "$T/c2/spool/s1"
    cp "$T/a.log" "$T/c1/spool/s1/s1.from-c1.log"
    cp "$T/a.log" "$T/c2/spool/s1/s1.from-c2.log"
    coll_oracle s1 "$T/a.log" >"$T/expect"
}

# coll_loser_check LOSER WINNER: billed once, by WINNER; LOSER's copy in its
# spool, its warning ($T/LOSER.err) naming WINNER and WINNER's name of the file
coll_loser_check() {
    local loser=$1 winner=$2
    coll_usage >"$T/got"
    diff "$T/expect" "$T/got"
    [ "$(db_sql 'SELECT count(*) FROM ingested_files')" -eq 1 ]
    [ "$(db_sql 'SELECT sha256, collector, source_name FROM ingested_files')" = \
        "$(sha256sum <"$T/a.log" | cut -d' ' -f1)|$winner|s1.from-$winner.log" ]
    grep -q "billed already by collector $winner as s1.from-$winner.log: this copy stays here, not billed" "$T/$loser.err" ||
        { cat "$T/$loser.err"; false; }
    cmp "$T/a.log" "$T/$loser/spool/s1/s1.from-$loser.log"
    [ ! -e "$T/$winner/spool/s1/s1.from-$winner.log" ]
    # the loser archived nothing
    [ -z "$(find "$T/$loser/archive" -type f 2>/dev/null)" ]
    # and a re-run of the loser warns again and keeps its copy
    run --separate-stderr "$PARSE" --config "$T/$loser/wp.conf"
    [ "$status" -eq 1 ]
    [[ $stderr == *"billed already by collector $winner as s1.from-$winner.log: this copy stays here"* ]] ||
        { echo "$stderr"; false; }
    cmp "$T/a.log" "$T/$loser/spool/s1/s1.from-$loser.log"
    [ "$(db_sql 'SELECT count(*) FROM ingested_files')" -eq 1 ]
    coll_usage >"$T/got"
    diff "$T/expect" "$T/got"
}

@test "the same file handed to two collectors at once is billed once; the loser warns naming the winner and keeps its copy" {
    coll_dup_setup
    "$PARSE" --config "$T/c1/wp.conf" 2>"$T/c1.err" &
    local p1=$!
    "$PARSE" --config "$T/c2/wp.conf" 2>"$T/c2.err" &
    local p2=$! rc1=0 rc2=0
    wait "$p1" || rc1=$?
    wait "$p2" || rc2=$?
    echo "c1 exit $rc1, c2 exit $rc2"
    if [ "$rc1" -eq 0 ]; then
        [ "$rc2" -eq 1 ]
        coll_loser_check c2 c1
    else
        [ "$rc1" -eq 1 ] && [ "$rc2" -eq 0 ]
        coll_loser_check c1 c2
    fi
}

@test "the same file handed to two collectors one after the other is billed once; the second warns and keeps its copy" {
    coll_dup_setup
    "$PARSE" --config "$T/c1/wp.conf"
    run --separate-stderr "$PARSE" --config "$T/c2/wp.conf"
    echo "$stderr" >"$T/c2.err"
    [ "$status" -eq 1 ]
    coll_loser_check c2 c1
}
