#!/usr/bin/env bats
# wp-fetchlogs when things go wrong: hosts that do not answer, host keys,
# permissions, files that change, sshd killed or hung mid-transfer, the tool
# itself killed, two runs at once. Plain files serve as logs here (no Squid):
# the rotate command recreates the live log, as Squid's reopen does.
# Address blocks 127.0.52.*, 127.0.53.* and 127.0.54.* belong to this file.
bats_require_minimum_version 1.5.0
load site

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    FETCH=$BIN/wp-fetchlogs
    HOSTS=$BIN/wp-hosts
    FLEET=$SRC/tests/fleet/fleet
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-fetchlogs-faults.XXXXXX")
    mkdir "$T/fleet"
    DB=$T/wp.db
    SPOOL=$T/spool
    EXTRA_PIDS=()
    CONNECT_TIMEOUT=2
    ADD_FLEET_HOSTS=yes
}

teardown() {
    local p c
    for p in "${EXTRA_PIDS[@]}"; do
        for c in $(descendants "$p") "$p"; do
            kill -CONT "$c" 2>/dev/null || true
            kill -KILL "$c" 2>/dev/null || true
        done
    done
    stop_fleet
    rm -rf "$T"
}

# big_log FILE MB: a log-shaped file of that many megabytes
big_log() {
    yes '1764072000.123      5 127.0.0.1 TCP_MISS/200 10345 GET http://127.0.0.1:8080/f10k alice HIER_DIRECT/127.0.0.1 application/octet-stream' |
        head -c "$(($2 * 1000000))" >"$1"
}

# wait_for_temp HOST: until a spool temporary of HOST has data (a transfer is under way)
wait_for_temp() {
    local i f
    for ((i = 0; i < 1000; i++)); do
        for f in "$SPOOL/$1"/*.tmp.*; do
            if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 1000000 ]; then
                return 0
            fi
        done
        sleep 0.01
    done
    echo "no transfer to $1 seen"
    return 1
}

assert_no_partial() { # assert_no_partial HOST
    run ! compgen -G "$SPOOL/$1/*.log"
    run ! compgen -G "$SPOOL/$1/*.tmp.*"
}

@test "hosts that do not answer are skipped quietly and counted; when none answers, 69" {
    start_fleet --hosts 1 --base 127.0.52 --faults
    add_fault_hosts
    echo line >"$FLEET_LOG_host1"
    local t0=$SECONDS
    run --separate-stderr "$FETCH"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
    [ $((SECONDS - t0)) -le 6 ]
    [ "$(cat "$SPOOL"/host1/*.log)" = line ]
    [ "$(status_of host1)" = "0||1" ]
    [ "$(status_of refused)" = "1|connect: Connection refused|0" ]
    [[ "$(status_of silent)" == "1|connect: Timeout connecting to $FLEET_ADDR_silent|0" ]]

    run --separate-stderr "$FETCH" -v
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"refused: not reachable: connect: Connection refused"* ]]
    [ "$(status_of refused | cut -d'|' -f1)" = 2 ]
    [ "$(status_of silent | cut -d'|' -f1)" = 2 ]

    run --separate-stderr "$FETCH" -H refused,silent
    [ "$status" -eq 69 ]
    [ "$stderr" = "wp-fetchlogs: no server answered (2 tried): refused: connect: Connection refused; silent: connect: Timeout connecting to $FLEET_ADDR_silent" ]
    [ "$(status_of refused | cut -d'|' -f1)" = 3 ]

    # a success resets the count
    "$HOSTS" set refused --address "$FLEET_ADDR_host1" --port "$FLEET_PORT_host1" --log-path "$T/none.log"
    run --separate-stderr "$FETCH" -H refused
    [ "$status" -eq 0 ]
    [ "$(status_of refused)" = "0|connect: Connection refused|1" ]
}

@test "a changed host key is refused with host, key type, fingerprint and file named; nothing fetched there" {
    start_fleet --hosts 2 --base 127.0.52
    echo one >"$FLEET_LOG_host1"
    echo two >"$FLEET_LOG_host2"
    ssh-keygen -q -t ed25519 -N '' -f "$T/other"
    awk -v k="$(cut -d' ' -f2 "$T/other.pub")" -v a="[$FLEET_ADDR_host1]:" \
        'index($1, a) == 1 { $3 = k } { print }' "$FLEET_KNOWN_HOSTS" >"$T/known_hosts"
    local fp
    fp=$(ssh-keygen -l -E sha256 -f "$T/fleet/host1/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
    for flags in "" "--accept-new"; do
        run --separate-stderr "$FETCH" --known-hosts "$T/known_hosts" $flags
        [ "$status" -eq 1 ]
        [ -z "$output" ]
        [ "$(wc -l <<<"$stderr")" -eq 2 ]
        [[ "$stderr" == "wp-fetchlogs: warning: host1: host key: $FLEET_ADDR_host1:$FLEET_PORT_host1 offered ssh-ed25519 key $fp, which does not match the key recorded in $T/known_hosts: the key has CHANGED"* ]]
        [ "$(tail -n 1 <<<"$stderr")" = "wp-fetchlogs: 2 hosts: 1 fetched, 1 failed, 0 not reachable" ]
    done
    # host1 untouched, host2 fetched; the file was not "fixed"
    [ "$(cat "$FLEET_LOG_host1")" = one ]
    run ! compgen -G "$FLEET_LOG_host1.wp-*"
    assert_no_partial host1
    [ "$(cat "$SPOOL"/host2/*.log)" = two ]
    [ "$(grep -c "$(cut -d' ' -f2 "$T/other.pub")" "$T/known_hosts")" -eq 1 ]
    [[ "$(status_of host1)" == "2|host key: "*"CHANGED"*"|0" ]]
}

@test "a crowded ssh-agent: the configured identity is used alone; without one, the agent's keys" {
    start_fleet --hosts 1 --base 127.0.53
    # an agent holding eight keys the host does not know: more than sshd's
    # MaxAuthTries (6), as OpenSSH's own client shows
    eval "$(ssh-agent -s -a "$T/agent.sock" 3>&-)" >/dev/null
    EXTRA_PIDS+=("$SSH_AGENT_PID")
    local i
    for i in 1 2 3 4 5 6 7 8; do
        ssh-keygen -q -t ed25519 -N '' -C "other$i" -f "$T/other$i"
        ssh-add -q "$T/other$i" 2>/dev/null
    done
    run ssh -n -F "$FLEET_SSH_CONFIG" -o IdentitiesOnly=no host1 true
    [ "$status" -eq 255 ]
    [[ "$output" == *"Too many authentication failures"* ]]

    echo line1 >"$FLEET_LOG_host1"
    run --separate-stderr "$FETCH"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(cat "$SPOOL"/host1/*.log)" = line1 ]

    # no identity in wp.conf: the agent's keys are offered; with the host's
    # key among the first few, that gets in
    sed -i '/^identity = /d' "$WP_CONFIG"
    ssh-add -q -D 2>/dev/null
    ssh-add -q "$T/other1" "$FLEET_IDENTITY" 2>/dev/null
    echo line2 >"$FLEET_LOG_host1"
    run --separate-stderr "$FETCH"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(cat "$SPOOL"/host1/*.log | sort | tr '\n' ' ')" = "line1 line2 " ]
    # and an agent without it is an authentication failure, named
    ssh-add -q -D 2>/dev/null
    ssh-add -q "$T/other1" 2>/dev/null
    echo line3 >"$FLEET_LOG_host1"
    run --separate-stderr "$FETCH"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-fetchlogs: warning: host1: authentication: "*"the agent's and the default keys"* ]]
    [ "$(cat "$FLEET_LOG_host1")" = line3 ]
}

@test "--accept-new records unknown host keys, each once; strict again afterwards" {
    start_fleet --hosts 3 --base 127.0.52
    local kh=$T/new_known_hosts
    run --separate-stderr "$FETCH" --known-hosts "$kh"
    [ "$status" -eq 1 ]
    [ "$(grep -c 'which is not in .* --accept-new' <<<"$stderr")" -eq 3 ]
    [ ! -e "$kh" ]
    run --separate-stderr "$FETCH" --known-hosts "$kh" --accept-new -j 3
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    diff <(sort "$kh") <(sort "$FLEET_KNOWN_HOSTS")
    run --separate-stderr "$FETCH" --known-hosts "$kh"
    [ "$status" -eq 0 ]
    run --separate-stderr "$FETCH" --known-hosts "$kh" --accept-new
    [ "$status" -eq 0 ]
    [ "$(wc -l <"$kh")" -eq 3 ]
}

@test "permission denied on the log or its directory: a warning naming the step, exit 1, nothing changed" {
    start_fleet --hosts 1 --base 127.0.53
    if [ "$(id -u)" -eq 0 ]; then
        # root reads anything: run host1's sshd without the capabilities that allow it
        command -v setpriv >/dev/null || skip "setpriv is not installed"
        kill "$FLEET_SSHD_PID_host1"
        while kill -0 "$FLEET_SSHD_PID_host1" 2>/dev/null; do sleep 0.05; done
        setpriv --bounding-set -dac_override,-dac_read_search -- /usr/sbin/sshd -D -f "$T/fleet/host1/sshd_config" \
            -E "$T/fleet/host1/sshd2.log" </dev/null >/dev/null 2>&1 3>&- &
        EXTRA_PIDS+=($!)
        local i
        for ((i = 0; i < 100; i++)); do
            ssh -F "$FLEET_SSH_CONFIG" host1 true 2>/dev/null && break
            sleep 0.1
        done
    fi
    echo secret >"$FLEET_LOG_host1"
    chmod 000 "$FLEET_LOG_host1"
    run --separate-stderr "$FETCH"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-fetchlogs: warning: host1: list $FLEET_LOGDIR_host1: exit status 3: "*"Permission denied
wp-fetchlogs: 1 host: 0 fetched, 1 failed, 0 not reachable" ]]
    [ "$(status_of host1 | cut -d'|' -f1)" = 1 ]

    chmod 644 "$FLEET_LOG_host1"
    chmod 555 "$FLEET_LOGDIR_host1"
    run --separate-stderr "$FETCH"
    chmod 755 "$FLEET_LOGDIR_host1"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-fetchlogs: warning: host1: claim $FLEET_LOG_host1: exit status 1: mv: "*"Permission denied
wp-fetchlogs: 1 host: 0 fetched, 1 failed, 0 not reachable" ]]
    [ "$(cat "$FLEET_LOG_host1")" = secret ]
    run ! compgen -G "$FLEET_LOG_host1.wp-*"
    assert_no_partial host1

    run --separate-stderr "$FETCH"
    [ "$status" -eq 0 ]
    [ "$(cat "$SPOOL"/host1/*.log)" = secret ]
    [ "$(status_of host1 | cut -d'|' -f1)" = 0 ]
}

@test "a full spool disk: a warning naming host, step and cause, nothing partial, the claim stays; the others fetched; the next run completes" {
    unshare --mount true 2>/dev/null || skip "cannot make a private mount namespace (root, CAP_SYS_ADMIN)"
    start_fleet --hosts 3 --base 127.0.53
    big_log "$FLEET_LOG_host1" 6
    echo 'host2 line' >"$FLEET_LOG_host2"
    echo 'host3 line' >"$FLEET_LOG_host3"
    cp "$FLEET_LOG_host1" "$T/expected1"
    # The spool is a 2 MB tmpfs, private to this mount namespace, then 64 MB
    # for the second run; what each run left in it is copied out.
    mkdir -p "$SPOOL"
    cat >"$T/full.sh" <<EOF
set -u
mount -t tmpfs -o size=2m,mode=0755 wp-full-spool "$SPOOL" || exit 99
"$FETCH" -j 1 --transfer sftp >"$T/out1" 2>"$T/err1"; echo \$? >"$T/rc1"
cp -a "$SPOOL" "$T/after1"
ls -d "$FLEET_LOG_host1".wp-* >"$T/claims1"
cat "$FLEET_LOG_host1".wp-* >"$T/claimed1"
sqlite3 "$DB" "SELECT h.consecutive_failures FROM host_status h JOIN servers s ON s.id = h.server_id
    WHERE s.name = 'host1'" >"$T/failures1"
mount -o remount,size=64m "$SPOOL" || exit 99
"$FETCH" -j 1 --transfer sftp >"$T/out2" 2>"$T/err2"; echo \$? >"$T/rc2"
cp -a "$SPOOL" "$T/after2"
EOF
    unshare --mount --propagation private sh "$T/full.sh"
    # first run: host1 did not fit
    [ "$(cat "$T/rc1")" -eq 1 ]
    [ ! -s "$T/out1" ]
    [ "$(wc -l <"$T/claims1")" -eq 1 ]
    local claimed
    claimed=$(cat "$T/claims1")
    [[ "$(cat "$T/err1")" == "wp-fetchlogs: warning: host1: download $claimed: cannot write $SPOOL/host1/host1.${claimed##*.wp-}.log.tmp."*": No space left on device
wp-fetchlogs: 3 hosts: 2 fetched, 1 failed, 0 not reachable" ]]
    [ "$(wc -l <"$T/err1")" -eq 2 ]
    cmp "$T/claimed1" "$T/expected1"
    run ! compgen -G "$T/after1/host1/*"
    [ "$(cat "$T/after1"/host2/*.log)" = 'host2 line' ]
    [ "$(cat "$T/after1"/host3/*.log)" = 'host3 line' ]
    [ "$(cat "$T/failures1")" = 1 ]
    # second run: the claim is fetched whole, and only it
    [ "$(cat "$T/rc2")" -eq 0 ]
    [ ! -s "$T/out2" ]
    [ ! -s "$T/err2" ]
    cmp "$T/after2"/host1/host1.*.log "$T/expected1"
    [ "$(find "$T/after2" -type f -name '*.log' | wc -l)" -eq 3 ]
    run ! compgen -G "$FLEET_LOG_host1.wp-*"
    [[ "$(status_of host1)" == "0|"*"No space left on device|1" ]] # the last error stays on record
    # nothing of the tmpfs is left on the real file system
    [ -z "$(ls -A "$SPOOL")" ]
}

@test "a claimed file that changes during the transfer is a checksum mismatch; it stays for the next run" {
    start_fleet --hosts 1 --base 127.0.53
    local claimed=$FLEET_LOG_host1.wp-20261124T230000Z
    big_log "$claimed" 30
    # a writer that has not let go of the file (as if Squid had not reopened):
    # the download stops at the size the file had when opened, the host's
    # checksum is taken later
    (while :; do printf 'late\n' >>"$claimed"; sleep 0.001; done) 3>&- &
    EXTRA_PIDS+=($!)
    run --separate-stderr "$FETCH" --transfer sftp --timeout 60
    kill "${EXTRA_PIDS[0]}" 2>/dev/null || true
    wait "${EXTRA_PIDS[0]}" 2>/dev/null || true
    EXTRA_PIDS=()
    [ "$status" -eq 1 ]
    [[ "$stderr" == "wp-fetchlogs: warning: host1: download $claimed: checksum mismatch (the host has "* ]]
    assert_no_partial host1
    cp "$claimed" "$T/expected"
    run --separate-stderr "$FETCH" --transfer sftp
    [ "$status" -eq 0 ]
    cmp "$SPOOL/host1/host1.20261124T230000Z.log" "$T/expected"
    [ ! -e "$claimed" ]
}

@test "sshd killed mid-transfer: warning, no partial spool file, the claim stays; the next run fetches it" {
    start_fleet --hosts 1 --base 127.0.53
    big_log "$FLEET_LOG_host1" 200
    cp "$FLEET_LOG_host1" "$T/expected"
    "$FETCH" --transfer sftp 2>"$T/stderr" &
    local fetch=$!
    wait_for_temp host1
    local c
    for c in $(descendants "$FLEET_SSHD_PID_host1"); do kill -KILL "$c" 2>/dev/null || true; done
    local rc=0
    wait "$fetch" || rc=$?
    [ "$rc" -eq 1 ]
    [[ "$(cat "$T/stderr")" == "wp-fetchlogs: warning: host1: download $FLEET_LOG_host1.wp-"*Z": read: "* ]]
    assert_no_partial host1
    local claimed
    claimed=$(compgen -G "$FLEET_LOG_host1.wp-*")
    cmp "$claimed" "$T/expected"

    run --separate-stderr "$FETCH" --transfer sftp
    [ "$status" -eq 0 ]
    cmp "$SPOOL"/host1/*.log "$T/expected"
    run ! compgen -G "$FLEET_LOG_host1.wp-*"
}

@test "a host that hangs mid-transfer (sshd stopped) is cut off by the watchdog" {
    start_fleet --hosts 1 --base 127.0.53
    big_log "$FLEET_LOG_host1" 200
    local t0=$SECONDS
    # --connect-timeout 1: a connected host silent for 3 s is hung
    "$FETCH" --transfer sftp --connect-timeout 1 2>"$T/stderr" &
    local fetch=$!
    wait_for_temp host1
    local c stopped=()
    for c in $(descendants "$FLEET_SSHD_PID_host1"); do
        kill -STOP "$c" && stopped+=("$c")
    done
    local rc=0
    wait "$fetch" || rc=$?
    for c in "${stopped[@]}"; do kill -CONT "$c" 2>/dev/null || true; done
    [ "$rc" -eq 1 ]
    [[ "$(cat "$T/stderr")" == *"host1: download "*": read: timed out: no data for 3 s"* ]]
    [ $((SECONDS - t0)) -le 10 ]
    assert_no_partial host1
}

@test "wp-fetchlogs killed -9 mid-transfer: the next run sweeps the temporary and fetches the file" {
    start_fleet --hosts 1 --base 127.0.53
    big_log "$FLEET_LOG_host1" 200
    cp "$FLEET_LOG_host1" "$T/expected"
    "$FETCH" --transfer sftp 2>/dev/null &
    local fetch=$!
    wait_for_temp host1
    kill -KILL "$fetch"
    wait "$fetch" || true
    compgen -G "$SPOOL/host1/*.tmp.*" # the killed run's temporary
    run ! compgen -G "$SPOOL/host1/*.log"
    run --separate-stderr "$FETCH" --transfer zstd
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    run ! compgen -G "$SPOOL/host1/*.tmp.*"
    cmp "$SPOOL"/host1/*.log "$T/expected"
}

@test "a claim fetched before its remote delete was lost is not stored twice, whichever spool name it got" {
    start_fleet --hosts 1 --base 127.0.53
    # Earlier runs in one second gave two claims the stamp T: the first is
    # in the spool under the usual name, the second as .dup1, and the
    # second's remote delete was lost (the run was killed), so it is still
    # on the host. A third claim with the same stamp is new.
    local T1=20261124T230000Z spool=$SPOOL/host1
    mkdir -p "$spool"
    printf 'first\n' >"$spool/host1.$T1.log"
    printf 'second\n' >"$spool/host1.$T1.dup1.log"
    printf 'second\n' >"$FLEET_LOG_host1.wp-$T1"
    printf 'third\n' >"$FLEET_LOG_host1.wp-$T1.1"
    run --separate-stderr "$FETCH" -v
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"host1: $FLEET_LOG_host1.wp-$T1 is already in the spool as $spool/host1.$T1.dup1.log"* ]]
    # on the host: both claims gone; here: each content once
    run ! compgen -G "$FLEET_LOG_host1.wp-*"
    [ "$(cd "$spool" && ls | tr '\n' ' ')" = "host1.$T1.1.log host1.$T1.dup1.log host1.$T1.log " ]
    [ "$(cat "$spool"/*.log | LC_ALL=C sort | tr '\n' ' ')" = "first second third " ]
}

@test "kill -9 at random points of many runs: every line ends up in the spool exactly once" {
    start_fleet --hosts 2 --base 127.0.53
    local round i h l kills=0
    : >"$T/written"
    # ten runs, more (up to 30) until three of them were killed while running
    for ((round = 1; round <= 10 || (kills < 3 && round <= 30); round++)); do
        for h in host1 host2; do
            l=FLEET_LOG_$h
            seq 0 1999 | awk -v h="$h" -v r="$round" '{ print h " round " r " line " $1 }' |
                tee -a "$T/written" >>"${!l}"
        done
        "$FETCH" --transfer "$( ((round % 2)) && echo sftp || echo zstd)" 2>/dev/null &
        local pid=$!
        sleep "$(printf '0.%02d' $((RANDOM % 25)))"
        local state
        state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || echo gone)
        if [ "$state" != gone ] && [ "$state" != Z ]; then
            kills=$((kills + 1))
        fi
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    local rounds=$((round - 1))
    echo "$kills of $rounds runs killed while running"
    [ "$kills" -ge 3 ]
    # clean runs until nothing is claimed any more
    for ((i = 0; i < 3; i++)); do
        run --separate-stderr "$FETCH"
        [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    done
    run ! compgen -G "$T/fleet/host*/log/access.log.wp-*"
    run ! compgen -G "$SPOOL/host*/*.tmp.*"
    cat "$SPOOL"/host*/*.log | LC_ALL=C sort >"$T/fetched"
    LC_ALL=C sort "$T/written" >"$T/expected"
    [ "$(wc -l <"$T/expected")" -eq $((rounds * 2 * 2000)) ]
    cmp "$T/fetched" "$T/expected" || { diff "$T/fetched" "$T/expected" | head; ls -l "$SPOOL"/host*/; false; }
}

@test "two runs at once: the second exits 75 at once and touches nothing" {
    start_fleet --hosts 1 --base 127.0.53 --faults
    add_fault_hosts
    echo line >"$FLEET_LOG_host1"
    "$FETCH" -H silent --connect-timeout 3 &
    local first=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [ -e "$SPOOL/silent" ] && break
        sleep 0.02
    done
    run --separate-stderr "$FETCH" -H host1
    [ "$status" -eq 75 ]
    [ "$stderr" = "wp-fetchlogs: another run holds the lock $SPOOL/.wp-fetchlogs.lock" ]
    [ "$(cat "$FLEET_LOG_host1")" = line ]
    local rc=0
    wait "$first" || rc=$?
    [ "$rc" -eq 69 ]
    run --separate-stderr "$FETCH" -H host1
    [ "$status" -eq 0 ]
}

# tree_outside_fleet: every path under $T but the fleet's own directory (the hosts' side)
tree_outside_fleet() {
    (cd "$T" && find . -path ./fleet -prune -o -print | LC_ALL=C sort)
}

# not_ours DIR: the names in DIR that match the claim glob but are not claims
# (a newline in one, so listed through od)
not_ours() {
    (cd "$1" && find . \( -name 'access.log.wp-*[!Z]' -o -type l \) -print | LC_ALL=C sort | od -c)
}

@test "a hostile host: lying sha256sum and openssl, claimed names with ../ and newlines: nothing outside the spool, a warning, exit 1" {
    start_fleet --hosts 2 --base 127.0.54
    local bin=$T/fakebin d=$FLEET_LOGDIR_host1 zeros
    zeros=$(printf '0%.0s' {1..64})
    mkdir "$bin"
    # host1's logins find these first on their PATH (sshd executes itself
    # again on SIGHUP, same pid, and reads the new setting): wp-fetchlogs
    # takes the host's SHA-256 from openssl when there is one, else from
    # sha256sum, so both lie
    # (sshd takes only its first SetEnv line: PATH joins HOME's)
    sed -i "s|^SetEnv HOME=.*|& PATH=$bin:/usr/local/bin:/usr/bin:/bin|" "$T/fleet/host1/sshd_config"
    grep -q "^SetEnv HOME=$FLEET_HOME_host1 PATH=$bin:" "$T/fleet/host1/sshd_config"
    fake() { # fake SCRIPT_LINE: both checksum tools run it
        local t
        for t in sha256sum openssl; do
            printf '#!/bin/sh\ncat >/dev/null\n%s\n' "$1" >"$bin/$t"
            chmod 755 "$bin/$t"
        done
    }
    fake "echo '$zeros  -'"
    kill -HUP "$FLEET_SSHD_PID_host1"
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(ssh -F "$FLEET_SSH_CONFIG" host1 'command -v sha256sum' 2>/dev/null)" = "$bin/sha256sum" ] && break
        sleep 0.1
    done
    [ "$i" -lt 100 ]

    echo line >"$FLEET_LOG_host1"
    echo honest >"$FLEET_LOG_host2"
    # names that match the claim glob access.log.wp-* but are not ours: a
    # newline in one, dots, and a claim-shaped symbolic link that leads out
    # of the log directory through ../
    printf 'newline\n' >"$d/access.log.wp-20261124T230000Z"$'\n'"..evil"
    printf 'dots\n' >"$d/access.log.wp-.."
    printf 'outside\n' >"$T/outside.txt"
    ln -s ../../../outside.txt "$d/access.log.wp-20261124T220000Z"
    local sum junk
    sum=$(sha256sum <"$FLEET_LOG_host1" | cut -d' ' -f1)
    junk=$(not_ours "$d")
    [ "$(cd "$d" && find . \( -name 'access.log.wp-*[!Z]' -o -type l \) -printf x)" = xxx ]
    tree_outside_fleet >"$BATS_TEST_TMPDIR/tree.before"

    # 1. a wrong sum, over SFTP
    run --separate-stderr "$FETCH" --transfer sftp
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    local claimed
    claimed=$(find "$d" -maxdepth 1 -type f -name 'access.log.wp-2*Z')
    [ -n "$claimed" ]
    [ "$stderr" = "wp-fetchlogs: warning: host1: download $claimed: checksum mismatch (the host has 5 bytes, SHA-256 $zeros; received 5 bytes, SHA-256 $sum); the file stays on the host
wp-fetchlogs: 2 hosts: 1 fetched, 1 failed, 0 not reachable" ] || { echo "$stderr"; false; }
    [ "$(cat "$claimed")" = line ]
    [ "$(cat "$SPOOL"/host2/*.log)" = honest ]
    assert_no_partial host1

    # 2. a crafted line (the right sum glued to a path, a terminal escape, a
    # second line), over the zstd stream
    fake "printf '%s../../../outside.txt\033[2J\n%s  -\n' $sum $sum"
    run --separate-stderr "$FETCH" --transfer zstd
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$(wc -l <<<"$stderr")" -eq 2 ]
    [[ "$stderr" == "wp-fetchlogs: warning: host1: verify $claimed: unexpected checksum from the host: wp-digest:5\x0awp-digest:$sum../../../outside.txt\x1b[2J\x0a$sum  -\x0a"* ]]
    [ "$(tail -n 1 <<<"$stderr")" = "wp-fetchlogs: 2 hosts: 1 fetched, 1 failed, 0 not reachable" ]
    [ "$(cat "$claimed")" = line ]
    assert_no_partial host1
    [ "$(status_of host1 | cut -d'|' -f1)" = 2 ]

    # nothing written outside the spool: around it, only what any run
    # writes appeared (the lock, the servers' spool directories,
    # host2's file), nothing went away, and the link's target is untouched
    tree_outside_fleet >"$BATS_TEST_TMPDIR/tree.after"
    comm -13 "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after" >"$BATS_TEST_TMPDIR/tree.new"
    printf '%s\n' ./spool ./spool/.wp-fetchlogs.lock ./spool/host1 ./spool/host2 \
        "./spool/host2/$(basename "$SPOOL"/host2/*.log)" | LC_ALL=C sort >"$BATS_TEST_TMPDIR/tree.expected"
    diff "$BATS_TEST_TMPDIR/tree.expected" "$BATS_TEST_TMPDIR/tree.new"
    [ -z "$(comm -23 "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after")" ]
    [ "$(cat "$T/outside.txt")" = outside ]
    # on the host, the names that are not ours are as they were
    [ "$(not_ours "$d")" = "$junk" ]

    # 3. honest tools again: the claim is fetched, the rest left alone
    rm "$bin/sha256sum" "$bin/openssl"
    run --separate-stderr "$FETCH" -v
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [[ "$stderr" == *"host1: left alone $d/access.log.wp-.."* ]]
    [[ "$stderr" == *"host1: left alone $d/access.log.wp-20261124T230000Z\x0a..evil"* ]]
    [ "$(ls "$SPOOL/host1")" = "$(basename "$claimed" | sed 's/^access\.log\.wp-/host1./; s/$/.log/')" ]
    [ "$(cat "$SPOOL"/host1/*.log)" = line ]
    [ ! -e "$claimed" ]
    [ "$(not_ours "$d")" = "$junk" ]
    [ "$(cat "$T/outside.txt")" = outside ]
}

# Servers on 127.0.54.250-251, where nothing listens: refused at once.
closed_hosts() {
    export WP_CONFIG=$T/wp.conf
    printf '%s = %s\n' db "$DB" spool "$SPOOL" connect-timeout 2 >"$WP_CONFIG"
    "$HOSTS" add closed1 --address 127.0.54.250 --port 1
    "$HOSTS" add closed2 --address 127.0.54.251 --port 1
}

@test "when no server answers (69), the message names each server and its cause" {
    closed_hosts
    run --separate-stderr "$FETCH"
    [ "$status" -eq 69 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-fetchlogs: no server answered (2 tried): closed1: connect: Connection refused; closed2: connect: Connection refused" ]
}

@test "a missing identity file is a configuration error (78)" {
    closed_hosts
    run --separate-stderr "$FETCH" --identity "$T/nonexistent"
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-fetchlogs: cannot read identity $T/nonexistent: No such file or directory" ]
}

@test "a mistyped --db is 66 and creates nothing" {
    closed_hosts
    run --separate-stderr "$FETCH" --db "$T/typo.db"
    [ "$status" -eq 66 ]
    [ "$stderr" = "wp-fetchlogs: no database at $T/typo.db: a new installation makes one by adding its first server ('wp-hosts add NAME --address ADDRESS'); else give --db or db = in wp.conf (see wp(7))" ]
    [ ! -e "$T/typo.db" ]
}
