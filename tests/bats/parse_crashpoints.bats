#!/usr/bin/env bats
# Exact crash points of wp-parse: strace's fault injection sends SIGKILL on
# entry to the Nth call of one of the syscalls that make an ingest durable
# (fsync, fdatasync, unlink, pwrite64, ftruncate, and write and unlinkat where
# wp-parse uses them), then a run to completion must leave exactly what one
# clean run leaves. And from a trace: a spool file is unlinked only after the
# commit that billed it is on disk. Oracles: a clean run, tests/tools/bill-awk,
# zstdcat, sqlite3.
bats_require_minimum_version 1.5.0

load site

# The syscalls whose every call is a crash point; those a run never makes are
# left out of the summary.
CRASH_SYSCALLS=(fsync fdatasync unlink unlinkat pwrite64 write ftruncate)
MAX_POINTS=${WP_CRASH_POINTS:-200} # per syscall; more calls than that: an evenly spread sample

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-crashpoints-bats.XXXXXX")
}

teardown() {
    rm -rf "$T"
}

needs_strace() { # CI runs everything: there a missing strace is a failure
    if ! strace -f -o /dev/null true 2>/dev/null; then
        if [ "${CI:-}" = true ]; then
            echo "strace is missing or cannot trace here, and CI=true"
            false
        fi
        skip "strace is missing or cannot trace here"
    fi
    no_leak_check_under_strace
}

# make_input: $T/input, 3 servers x 2 files x 2000 lines, each file across the
# UTC midnight of 2025-11-26, with malformed lines (one before any dated line)
make_input() {
    local s f seed=1 midnight=1764115200
    for s in tor1 dub1 par1; do
        mkdir -p "$T/input/$s"
        for f in 1 2; do
            "$SRC/tests/tools/gen-squid-log" --lines 2000 --start $((midnight - 2700 + (f - 1) * 1800)) --span 3600 \
                --seed $seed --garbage 3 --users 60 >"$T/input/$s/$s.20251125T23$((f * 30 - 15))Z.log"
            seed=$((seed + 1))
        done
    done
    sed -i '1i not a Squid line, before any dated one' "$T/input/dub1/dub1.20251125T2315Z.log"
}

# calls_per_thread TRACE SPOOL: "syscall calls most-calls-of-one-thread" per
# syscall of an strace -f log, and the same for "unlink:spool", the unlinks
# of files in SPOOL. strace counts each thread's calls apart for when=N, so
# N up to the most calls of one thread is a crash point.
calls_per_thread() {
    awk -v spool="$2/" '
        function count(name, tid) {
            calls[name]++
            if (++of[name, tid] > most[name]) most[name] = of[name, tid]
        }
        {
            line = $0; sub(/^[0-9]+ +/, "", line)
            if (line ~ /^(<\.\.\.|\+\+\+|---)/) next
            name = line; sub(/\(.*/, "", name)
            count(name, $1)
            if (name ~ /^unlink/ && index(line, "\"" spool) > 0) count("unlink:spool", $1)
        }
        END { for (s in calls) print s, calls[s], most[s] }' "$1"
}

# target_of TRACE SYSCALL: what the call that was killed was about to touch
# (the path of its first fd, else its first path argument), relative to the
# site, with server, month, day and file names blurred
target_of() {
    awk -v sc="$2" '
        { tid = $1; line = $0; sub(/^[0-9]+ +/, "", line) }
        index(line, sc "(") == 1 && line ~ / <unfinished \.\.\.>$/ { begun[tid] = line; next }
        index(line, "<... " sc " resumed>") == 1 && line ~ / = \?$/ { line = begun[tid] " = ?" }
        index(line, sc "(") == 1 && line ~ / = \?$/ {
            if (match(line, /^[a-z0-9_]+\([0-9]+</)) { p = substr(line, RLENGTH + 1); sub(/>.*/, "", p) }
            else if (match(line, /"[^"]*"/)) p = substr(line, RSTART + 1, RLENGTH - 2)
            print p; exit
        }' "$1" | sed -E -e "s|^$T/crash/||" -e "s|^$T/crash\$|.|" -e 's/(tor1|dub1|par1)/S/g' -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}/D/' \
        -e 's/[0-9]{4}-[0-9]{2}/M/' -e 's/S\.[0-9]{8}T[0-9]{4}Z/S.F/' -e 's/\.tmp\..*/.tmp/'
}

# kill_run POINT N J: a fresh site "crash", and wp-parse -j J on it under
# strace, which sends SIGKILL on entry to the Nth call of POINT (a syscall, or
# unlink:spool: an unlink of a spool file) of one thread. Returns 0 when the
# run was killed, 1 when no thread made N calls and it ran to its end.
kill_run() {
    local point=$1 n=$2 j=$3 sc=${1%%:*} status=0
    local -a only=()
    rm -rf "$T/crash"
    make_site crash
    if [ "$point" = unlink:spool ]; then
        # strace counts (and kills) only the calls on these paths: a worker's
        # first unlinks come after the main thread's (its database's -shm and
        # -wal), so with all unlinks counted they are never the Nth of a thread
        only=($(find "$T/crash/spool" -type f -printf '-P %p\n'))
    fi
    { strace -f -q -y -o "$T/inject.log" "${only[@]}" -e trace="$sc" -e inject="$sc":signal=KILL:when="$n" \
        "$BIN/wp-parse" --config "$T/crash/wp.conf" -j "$j"; } 2>/dev/null || status=$? # no "Killed" noise
    case $status in
    137) return 0 ;;
    0) return 1 ;;
    *) echo "$point when=$n -j $j: strace exited $status" && return 2 ;;
    esac
}

# crash_points POINT K K2: for N from 1 to K (at most MAX_POINTS of them,
# evenly spread), kill_run POINT N, -j 1 and -j 2 by turns (-j 1 where no
# thread of that -j 2 run made N calls: K2 is the most of a clean one, and
# SQLite's calls vary a little), then a run to completion and
# check_same_as_clean. Adds to points, kills, litter and summary; prints a
# line per POINT to fd 3.
crash_points() {
    local point=$1 k=$2 k2=$3 n i j rc kills_here=0 by_j2=0 targets
    local -a ns=()
    if [ "$k" -le "$MAX_POINTS" ]; then
        ns=($(seq 1 "$k"))
    else
        for ((i = 0; i < MAX_POINTS; i++)); do
            ns+=($((1 + i * (k - 1) / (MAX_POINTS - 1))))
        done
    fi
    : >"$T/targets"
    for n in "${ns[@]}"; do
        points=$((points + 1))
        j=$((points % 2 + 1))
        if [ $j = 2 ] && [ "$n" -gt "$k2" ]; then
            j=1
        fi
        rc=0
        kill_run "$point" "$n" $j || rc=$?
        if [ $rc = 1 ] && [ $j = 2 ]; then
            j=1 rc=0
            kill_run "$point" "$n" $j || rc=$?
        fi
        [ $rc -ne 2 ]
        if [ $rc = 0 ]; then
            kills_here=$((kills_here + 1))
            [ $j = 1 ] || by_j2=$((by_j2 + 1))
            target_of "$T/inject.log" "${point%%:*}" >>"$T/targets"
        fi
        run --separate-stderr "$BIN/wp-parse" --config "$T/crash/wp.conf" -j $j
        [ "$status" -eq 0 ] || { echo "$point when=$n -j $j: the run to completion exited $status: $stderr"; false; }
        echo "after SIGKILL on $point when=$n -j $j" # shown if a check fails
        check_same_as_clean crash
        litter=$((litter + $(find "$T/crash/rejects" -name '*.rejects.tmp.*' | wc -l)))
    done
    kills=$((kills + kills_here))
    targets=$(LC_ALL=C sort "$T/targets" | uniq -c | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')
    summary+=" $point ${#ns[@]};"
    echo "$point: ${#ns[@]} points, $kills_here killed a run ($by_j2 of -j 2): $targets" >&3
    # each N is a call the one worker of a -j 1 run makes, so each kills a run
    [ "$kills_here" -eq "${#ns[@]}" ]
}

@test "SIGKILL at every call of fsync, fdatasync, unlink, pwrite64, write, ftruncate (every one, 200 at most each), then a re-run: the state of a clean run" {
    needs_strace
    make_input
    make_site clean
    "$BIN/wp-parse" --config "$T/clean/wp.conf" 2>/dev/null
    # the clean run bills what awk bills, per (server, user, hour)
    local s
    for s in tor1 dub1 par1; do
        cat "$T/input/$s"/* | awk '$1 ~ /^[0-9]+\.[0-9]+$/' | "$SRC/tests/tools/bill-awk" | sed "s/^/$s\t/"
    done | LC_ALL=C sort >"$T/expect"
    sqlite3 -separator $'\t' "$T/clean/wp.db" "SELECT s.name, u.name, g.hour, g.requests, g.bytes, g.billed_bytes
        FROM usage g JOIN servers s ON s.id = g.server_id JOIN users u ON u.id = g.user_id" | LC_ALL=C sort >"$T/got"
    diff "$T/expect" "$T/got"
    check_same_as_clean clean

    # how often a clean run makes each call, in all and in its busiest thread
    local j n m
    local -A most1 most2 total
    for j in 1 2; do
        make_site count$j
        strace -f -q -o "$T/calls.$j" -e trace="$(IFS=,; echo "${CRASH_SYSCALLS[*]}")" \
            "$BIN/wp-parse" --config "$T/count$j/wp.conf" -j $j 2>/dev/null
        check_same_as_clean count$j
        while read -r s n m; do
            if [ $j = 1 ]; then
                total[$s]=$n most1[$s]=$m
            else
                most2[$s]=$m
            fi
        done < <(calls_per_thread "$T/calls.$j" "$T/count$j/spool")
    done
    # the steps of an ingest's hand-over are all there
    [ $((${most1[fsync]:-0} + ${most1[fdatasync]:-0})) -gt 0 ]
    [ "${total[unlink:spool]}" -eq "$(find "$T/input" -type f | wc -l)" ]
    [ $((${most1[pwrite64]:-0} + ${most1[write]:-0})) -gt 0 ]

    local point points=0 kills=0 litter=0 summary="" counts=""
    for point in "${CRASH_SYSCALLS[@]}" unlink:spool; do
        [ "${most1[$point]:-0}" -gt 0 ] || continue
        counts+=" $point ${total[$point]} (one thread ${most1[$point]}, -j 2: ${most2[$point]:-0});"
        crash_points "$point" "${most1[$point]}" "${most2[$point]:-0}"
    done
    echo "calls of a clean run:${counts%;}" >&3
    echo "$points crash points, $kills runs killed:${summary%;}; rejects temp files left behind: $litter" >&3
    # a killed run's temporary rejects file goes when the next run writes that file
    [ "$litter" -eq 0 ]
}

# durable_before_unlink TRACE DB SPOOL: from an strace -f -y log, every spool
# file unlinked after its thread's last write to DB-wal and DB was followed by
# a successful fsync/fdatasync of that file, begun after the write ended and
# ended before the unlink began. Prints offences and "N spool files unlinked".
durable_before_unlink() {
    awk -v db="$2" -v spool="$3/" '
        function fd_path(s,    p) { # the path strace -y shows with the first fd argument
            if (!match(s, /^[a-z0-9_]+\(-?[0-9]+</)) return ""
            p = substr(s, RLENGTH + 1); sub(/>.*/, "", p); return p
        }
        function name_path(s,    p, dir) { # the path an unlink or unlinkat removes
            if (!match(s, /"[^"]*"/)) return ""
            p = substr(s, RSTART + 1, RLENGTH - 2)
            if (s ~ /^unlinkat\(/ && p !~ /^\//) { dir = fd_path(s); if (dir != "") p = dir "/" p }
            return p
        }
        function ended(tid, name, path, start, ret,    f) {
            if ((name == "pwrite64" || name == "write") && (path == db || path == db "-wal")) {
                wrote[tid, path] = ++seq
            } else if ((name == "fsync" || name == "fdatasync") && ret == "0" && (path == db || path == db "-wal")) {
                if (start > synced[path]) synced[path] = start
            }
        }
        function unlinked(tid, path,    f, any, bad) {
            if (index(path, spool) != 1) return
            n++
            for (f in files) {
                if (!((tid, files[f]) in wrote)) continue
                any = 1
                if (synced[files[f]] <= wrote[tid, files[f]]) bad = bad " " files[f]
            }
            if (!any) print "unlinked " path " before any write to the database"
            else if (bad != "") print "unlinked " path " before the last write to" bad " was synced"
        }
        BEGIN { files[1] = db; files[2] = db "-wal" }
        {
            tid = $1; line = $0; sub(/^[0-9]+ +/, "", line)
            if (line ~ /^(\+\+\+|---)/) next
            ret = line; sub(/.*\) += /, "", ret); sub(/ .*/, "", ret)
            if (line ~ /^<\.\.\. [a-z0-9_]+ resumed>/) { # the end of a call begun earlier
                split(pending[tid], p, SUBSEP); delete pending[tid]
                ended(tid, p[1], p[2], p[3], ret)
                next
            }
            name = line; sub(/\(.*/, "", name)
            start = ++seq
            if (name ~ /^unlink/) { unlinked(tid, name_path(line)); next }
            if (line ~ /<unfinished \.\.\.>$/) { pending[tid] = name SUBSEP fd_path(line) SUBSEP start; next }
            ended(tid, name, fd_path(line), start, ret)
        }
        END { print n " spool files unlinked" }' "$1"
}

@test "a spool file is unlinked only once its commit is on disk: the database's last write before it is fsynced before it (-j 1, -j 2)" {
    needs_strace
    make_input
    local j files
    files=$(find "$T/input" -type f | wc -l)
    for j in 1 2; do
        make_site site$j
        strace -f -q -y -o "$T/trace.$j" -e trace=pwrite64,write,fsync,fdatasync,unlink,unlinkat \
            "$BIN/wp-parse" --config "$T/site$j/wp.conf" -j $j 2>/dev/null
        [ -z "$(find "$T/site$j/spool" -type f)" ]
        run durable_before_unlink "$T/trace.$j" "$(realpath "$T/site$j/wp.db")" "$T/site$j/spool"
        echo "-j $j: $output"
        [ "$output" = "$files spool files unlinked" ]
    done
}
