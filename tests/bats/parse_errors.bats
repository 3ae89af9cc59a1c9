#!/usr/bin/env bats
# wp-parse on bad input: clear messages, documented exit codes, nothing lost.
bats_require_minimum_version 1.5.0

load site

setup() {
    make_test_site wp-parse-err
    "$HOSTS" add tor1
    mkdir -p "$T/spool/tor1"
}

teardown() {
    rm -rf "$T"
}

@test "malformed lines go to rejects with line numbers, escaped on stderr" {
    { "$GEN" --lines 999 --seed 2; printf 'evil \033]0;title\007 line\n'; } >"$T/spool/tor1/tor1.x.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-parse: warning: $T/spool/tor1/tor1.x.log: 1 of 1000 lines not billed (first at line 1000, not understood: evil \\x1b]0;title\\x07 line), kept in $T/rejects/tor1/" ]
    [ "$(cat "$T/rejects/tor1/tor1.x.log.rejects")" = "$(printf '1000\tnot understood\tevil \033]0;title\007 line')" ]
    [ "$(sqlite3 "$DB" 'SELECT lines, rejected FROM ingested_files')" = "1000|1" ]
    # the malformed line is archived too: nothing Squid wrote is lost
    [ "$(zstdcat "$T"/archive/tor1/*/*.zst | wc -l)" -eq 1000 ]
}

@test "above --max-reject-ratio the file is not billed and stays in the spool" {
    "$GEN" --lines 1000 --seed 2 --garbage 30 >"$T/spool/tor1/tor1.bad.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"tor1.bad.log: "*" of 1000 lines not billed, above --max-reject-ratio 0.01: not billed, left in place"* ]]
    [ -f "$T/spool/tor1/tor1.bad.log" ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM usage') $(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" = "0 0" ]
    [ -z "$(find "$T/archive" -type f -size +0 2>/dev/null)" ]
    # an operator who accepts it raises the ratio for that run
    run --separate-stderr "$PARSE" --max-reject-ratio 0.1
    [ "$status" -eq 0 ]
    [ ! -e "$T/spool/tor1/tor1.bad.log" ]
    [ "$(zstdcat "$T"/archive/tor1/*/*.zst | wc -l)" -eq 1000 ]
}

@test "nothing understood exits 65; a missing input 66; - without --server 64" {
    printf 'this is not a squid log\nnor this\n' >"$T/junk.log"
    run --separate-stderr "$PARSE" --server tor1 -o - "$T/junk.log"
    [ "$status" -eq 65 ]
    [[ "$stderr" == *"wp-parse: no line of the input was understood as Squid native format" ]]
    run --separate-stderr "$PARSE" "$T/absent.log"
    [ "$status" -eq 66 ]
    [ "$stderr" = "wp-parse: cannot read input $T/absent.log: No such file or directory" ]
    run --separate-stderr "$PARSE" - </dev/null
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-parse: reading '-' needs --server NAME" ]
    run --separate-stderr "$PARSE" --format '%ts %Q' -o - "$T/junk.log"
    [ "$status" -eq 64 ]
    [[ "$stderr" == *"%Q"* ]]
}

@test "stdin with --server is billed like a file" {
    "$GEN" --lines 300 --seed 9 >"$T/a.log"
    "$PARSE" --server tor1 - <"$T/a.log"
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq 300 ]
    [ -f "$T/a.log" ]
}

@test "a file of a server not in the inventory fails alone, exit 1" {
    "$GEN" --lines 100 --seed 4 >"$T/spool/tor1/tor1.1.log"
    mkdir -p "$T/spool/ghost"
    "$GEN" --lines 100 --seed 5 >"$T/spool/ghost/ghost.1.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"ghost.1.log: server ghost is not in the inventory (add it with wp-hosts add ghost)"* ]]
    [ -f "$T/spool/ghost/ghost.1.log" ]
    [ ! -e "$T/spool/tor1/tor1.1.log" ]
}

@test "a second run while one holds the lock exits 75 and changes nothing" {
    "$GEN" --lines 100 --seed 4 >"$T/spool/tor1/tor1.1.log"
    flock "$DB" sleep 3 &
    sleep 0.3
    run --separate-stderr "$PARSE"
    [ "$status" -eq 75 ]
    [ "$stderr" = "wp-parse: another run holds the lock $DB" ]
    [ -f "$T/spool/tor1/tor1.1.log" ]
    wait
}

@test "the lock belongs to the database file: a run through a symlinked name waits its turn" {
    "$GEN" --lines 100 --seed 4 >"$T/spool/tor1/tor1.1.log"
    ln -s "$DB" "$T/other-name.db"
    flock "$DB" sleep 3 &
    sleep 0.3
    run --separate-stderr "$PARSE" --db "$T/other-name.db"
    [ "$status" -eq 75 ]
    [ "$stderr" = "wp-parse: another run holds the lock $T/other-name.db" ]
    [ -f "$T/spool/tor1/tor1.1.log" ]
    wait
    # and two real runs through the two names: the second one waits its turn, nothing is cut
    "$GEN" --lines 200000 --seed 5 >"$T/spool/tor1/tor1.2.log"
    cat "$T"/spool/tor1/*.log | LC_ALL=C sort >"$T/all"
    "$PARSE" -j 2 2>"$T/first.err" & pid=$!
    run --separate-stderr "$PARSE" --db "$T/other-name.db"
    local first=0
    wait "$pid" || first=$?
    # whichever started second found the lock held (or ran after the first)
    [ "$first" -eq 0 ] || [ "$first" -eq 75 ]
    [ "$status" -eq 0 ] || [ "$status" -eq 75 ]
    "$PARSE" --db "$T/other-name.db"
    [ -z "$(find "$T/spool" -type f)" ]
    zstdcat "$T"/archive/tor1/*/*.zst | LC_ALL=C sort | cmp - "$T/all"
    [ "$(sqlite3 "$DB" 'SELECT sum(requests) FROM usage')" -eq 200100 ]
}

# bill_one_day: one file billed; sets arch (its day file) and size
bill_one_day() {
    "$GEN" --lines 500 --seed 1 >"$T/spool/tor1/tor1.1.log"
    cp "$T/spool/tor1/tor1.1.log" "$T/one.log"
    "$PARSE"
    arch=$(find "$T/archive" -name '*.zst')
    size=$(stat -c %s "$arch")
}

@test "a torn archive append from a crashed run is cut off at the next run" {
    bill_one_day
    head -c 777 "$arch" >>"$arch"   # the start of a batch a killed run left
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ]
    [ "$stderr" = "" ]
    [ "$(stat -c %s "$arch")" -eq "$size" ]
    zstd -t -q "$arch"
    zstdcat "$arch" | cmp - "$T/one.log"
}

@test "a tail of zeros (an append whose size reached the disk but not its blocks) is cut like a torn append" {
    bill_one_day
    truncate -s +4096 "$arch"
    "$GEN" --lines 500 --seed 2 >"$T/spool/tor1/tor1.2.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 0 ] && [ "$stderr" = "" ]
    zstd -t -q "$arch"
    zstdcat "$arch" | cmp - <(cat "$T/one.log"; "$GEN" --lines 500 --seed 2)
}

@test "bytes after the archive's last frame that are no frame are damage: kept, warned about, not appended to" {
    "$GEN" --lines 500 --seed 1 --start 1764072000 >"$T/spool/tor1/tor1.1.log"
    "$PARSE"
    arch=$(find "$T/archive" -name '*.zst')
    printf 'this is no zstd frame at all, and not ours to cut' >>"$arch"
    size=$(stat -c %s "$arch")
    "$GEN" --lines 500 --seed 2 --start 1764072000 >"$T/spool/tor1/tor1.2.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
    [ "${stderr_lines[0]}" = "wp-parse: warning: archive $arch is damaged at offset $((size - 49)) (bytes that are no zstd frame (magic 73696874)): not appended to" ]
    [[ "${stderr_lines[1]}" == "wp-parse: warning: $T/spool/tor1/tor1.2.log: archive $arch is $size bytes, not the $((size - 49)) bytes committed: refusing to append" ]]
    [ "$(stat -c %s "$arch")" -eq "$size" ]
    [ -f "$T/spool/tor1/tor1.2.log" ]
}

@test "-o to a FIFO writes into it and leaves it a FIFO" {
    "$GEN" --lines 50 --seed 1 >"$T/a.log"
    mkfifo "$T/fifo"
    cat "$T/fifo" >"$T/out" &
    "$PARSE" --server tor1 -o "$T/fifo" "$T/a.log"
    wait
    [ -p "$T/fifo" ]
    [ "$(head -1 "$T/out")" = "$(printf 'server\tuser\thour\trequests\tbytes\tbilled_bytes')" ]
    [ "$(awk -F'\t' 'NR > 1 { n += $4 } END { print n }' "$T/out")" -eq 50 ]
}

@test "--json lines carry the same records" {
    "$GEN" --lines 200 --seed 1 >"$T/a.log"
    "$PARSE" --server tor1 -o - "$T/a.log" | tail -n +2 | LC_ALL=C sort >"$T/tsv"
    "$PARSE" --server tor1 -o - --json "$T/a.log" |
        python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    print("\t".join([r["server"], r["user"], r["hour"], str(r["requests"]), str(r["bytes"]), str(r["billed_bytes"])]))' |
        LC_ALL=C sort >"$T/json"
    diff "$T/tsv" "$T/json"
    [ "$(wc -l <"$T/json")" -gt 5 ]
}

@test "a rules file with an error names file and line; --rules changes the price" {
    printf 'tag MISS = 2\nthis is wrong\n' >"$T/bad.rules"
    run --separate-stderr "$PARSE" --rules "$T/bad.rules" --server tor1 -o - /dev/null
    [ "$status" -eq 78 ]
    [[ "$stderr" == "wp-parse: $T/bad.rules:2: "* ]]
    printf '1764072000.000 1 192.0.2.1 TCP_MISS/200 1000 GET http://x/ alice HIER_DIRECT/x -\n' >"$T/one.log"
    printf 'tag MISS = 3\ndefault = 2\n' >"$T/three.rules"
    run --separate-stderr "$PARSE" --rules "$T/three.rules" --server tor1 -o - "$T/one.log"
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "$(printf 'tor1\talice\t2025-11-25T12:00:00Z\t1\t1000\t3000')" ]
}

@test "an unknown tag is billed by the default rule and reported once with its count" {
    printf '1764072000.000 1 192.0.2.1 TCP_WEIRD_NEW/200 100 GET http://x/ alice HIER_DIRECT/x -\n%.0s' 1 2 3 >"$T/w.log"
    run --separate-stderr "$PARSE" --server tor1 -o - "$T/w.log"
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "$(printf 'tor1\talice\t2025-11-25T12:00:00Z\t3\t300\t600')" ]
    [ "$stderr" = "wp-parse: warning: tag TCP_WEIRD_NEW has no billing rule: 3 lines billed by the default rule" ]
}

@test "a lost archive file stops billing for that day only, loudly" {
    "$HOSTS" add dub1
    mkdir -p "$T/spool/dub1"
    "$GEN" --lines 100 --seed 1 >"$T/spool/tor1/tor1.1.log"
    "$PARSE"
    rm "$T"/archive/tor1/*/*.zst
    "$GEN" --lines 100 --seed 2 >"$T/spool/tor1/tor1.2.log"
    "$GEN" --lines 100 --seed 3 >"$T/spool/dub1/dub1.1.log"
    run --separate-stderr "$PARSE"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"archive $T/archive/tor1/2025-11/tor1.2025-11-25.log.zst is missing ("*" bytes committed)"* ]]
    [[ "$stderr" == *"tor1.2.log: archive $T/archive/tor1/2025-11/tor1.2025-11-25.log.zst is 0 bytes, not the "*" bytes committed: refusing to append"* ]]
    [ -f "$T/spool/tor1/tor1.2.log" ]
    [ ! -e "$T/spool/dub1/dub1.1.log" ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM ingested_files')" -eq 2 ]
}
