#!/usr/bin/env bats
# The loopback test fleet (tests/fleet/fleet) itself: sshd hosts, the fault
# fixtures, a real Squid with basic auth, and a stop that leaves nothing behind.
# Address blocks 127.0.41.* and 127.0.42.* belong to this file.
# shellcheck disable=SC2154 # FLEET_* come from eval "$(fleet env DIR)"

bats_require_minimum_version 1.5.0
load site

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    FLEET=$SRC/tests/fleet/fleet
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/wp-fleet-bats.XXXXXX")
}

teardown() {
    local rc=0
    "$FLEET" stop "$DIR" || rc=$?
    rm -rf "$DIR"
    return "$rc"
}

# alive PID: the process exists and is not a zombie (pid 1 may not reap).
alive() {
    local s
    read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    s=${s##*) }
    [[ ${s%% *} != Z && ${s%% *} != X ]]
}

assert_all_gone() {
    local label pid _
    [ -s "$DIR/pids" ]
    while read -r label pid _; do
        if alive "$pid"; then
            echo "$label (pid $pid) is still alive: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
            return 1
        fi
    done <"$DIR/pids"
    run ! pgrep -af -- "sshd.*$DIR/"
    run ! pgrep -af -- "$DIR/"
}

@test "fleet: three sshd hosts and the fault fixtures, then a clean stop" {
    run "$FLEET" start "$DIR" --hosts 3 --base 127.0.41 --faults
    [ "$status" -eq 0 ]

    eval "$("$FLEET" env "$DIR")"
    [ "$FLEET_HOSTS" = "host1 host2 host3" ]
    [ "$FLEET_ADDR_host1" = 127.0.41.2 ]
    [ "$FLEET_ADDR_host3" = 127.0.41.4 ]
    [ "$FLEET_USER" = "$(id -un)" ]
    [ "$(wc -l <"$DIR/hosts.tsv")" -eq 5 ]
    [ "$(wc -l <"$DIR/known_hosts")" -eq 3 ]
    [ "$(stat -c %a "$DIR/host1/ssh_host_ed25519_key")" = 600 ]
    [ -d "$FLEET_ROOT_host2" ]
    [ -d "$FLEET_LOGDIR_host2" ]
    grep -q "^\[127.0.41.3\]:$FLEET_PORT_host2 ssh-ed25519 " "$DIR/known_hosts"

    local h
    for h in host1 host2 host3; do
        # shellcheck disable=SC2016 # expanded by the remote shell
        run --separate-stderr ssh -F "$DIR/ssh_config" "$h" 'echo ok-$((1+1))'
        [ "$status" -eq 0 ]
        [ "$output" = ok-2 ]
    done

    # SFTP works too (wp-fetchlogs uses it).
    echo "remote line" >"$FLEET_ROOT_host1/file.txt"
    run --separate-stderr sftp -F "$DIR/ssh_config" -b - host1 <<<"get $FLEET_ROOT_host1/file.txt $DIR/got.txt"
    [ "$status" -eq 0 ]
    [ "$(cat "$DIR/got.txt")" = "remote line" ]

    local t0=$SECONDS
    run --separate-stderr ssh -F "$DIR/ssh_config" refused true
    [ "$status" -eq 255 ]
    [[ "$stderr" == *"Connection refused"* ]]
    [ $((SECONDS - t0)) -le 2 ]

    t0=$SECONDS
    run --separate-stderr ssh -F "$DIR/ssh_config" -o ConnectTimeout=2 silent true
    [ "$status" -eq 255 ]
    [[ "$stderr" == *"timed out"* ]]
    [ $((SECONDS - t0)) -ge 1 ]
    [ $((SECONDS - t0)) -le 6 ]

    # An open session must not keep anything alive past stop.
    ssh -F "$DIR/ssh_config" host2 'sleep 300' </dev/null >/dev/null 2>&1 3>&- &
    local client=$!
    sleep 0.5

    run "$FLEET" stop "$DIR"
    [ "$status" -eq 0 ]
    assert_all_gone
    wait "$client" || true

    # stop is idempotent.
    run "$FLEET" stop "$DIR"
    [ "$status" -eq 0 ]
}

@test "fleet --squid: misses, memory hits, 407s and tunnels in a real access.log" {
    run "$FLEET" start "$DIR" --hosts 1 --base 127.0.42 --squid
    if [ "$status" -ne 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            skip "squid cannot run as $(id -un) here: ${output##*$'\n'}"
        fi
        echo "$output"
        false
    fi

    eval "$("$FLEET" env "$DIR")"
    local proxy=$FLEET_PROXY_host1 log=$FLEET_LOG_host1
    [ "$proxy" = http://127.0.42.2:13128 ]
    [[ "$FLEET_ORIGIN" == http://127.0.42.1:* ]]
    [[ "$FLEET_TUNNEL" == 127.0.42.1:* ]]
    [ "$(stat -c %s "$FLEET_ORIGIN_DIR/10000.bin")" -eq 10000 ]

    local alice carol
    alice=$(awk -F'\t' '$1 == "alice" { print $2 }' "$FLEET_USERS_TSV")
    carol=$(awk -F'\t' '$1 == "carol smith" { print $2 }' "$FLEET_USERS_TSV")
    [ -n "$alice" ]
    [ -n "$carol" ]
    local url=$FLEET_ORIGIN/10000.bin

    # 1, 2: a miss, then a memory hit.
    run curl -sS -o /dev/null -w '%{http_code} %{size_download}' -x "$proxy" -U "alice:$alice" "$url"
    [ "$output" = "200 10000" ]
    wait_lines "$log" 1
    run curl -sS -o /dev/null -w '%{http_code} %{size_download}' -x "$proxy" -U "alice:$alice" "$url"
    [ "$output" = "200 10000" ]
    wait_lines "$log" 2
    # 3: a wrong password.
    run curl -sS -o /dev/null -w '%{http_code}' -x "$proxy" -U "bob:not-his-password" "$url"
    [ "$output" = 407 ]
    wait_lines "$log" 3
    # 4: a user name with a space.
    run curl -sS -o /dev/null -w '%{http_code} %{size_download}' -x "$proxy" -U "carol smith:$carol" \
        "$FLEET_ORIGIN/1000.bin"
    [ "$output" = "200 1000" ]
    wait_lines "$log" 4
    # 5: a CONNECT tunnel.
    run curl -sS -p -x "$proxy" -U "alice:$alice" "http://$FLEET_TUNNEL/"
    [ "$status" -eq 0 ]
    [ "$output" = tunnel-ok ]
    wait_lines "$log" 5
    sleep 0.3

    if [ "$(id -u)" -eq 0 ]; then
        [ "$(stat -c '%U:%G %a' "$log")" = "proxy:proxy 640" ]
    fi

    # Native format: time elapsed client code/status bytes method URL user
    # hierarchy/peer type. The user field may hold a space ("carol smith").
    local -a lines
    mapfile -t lines <"$log"
    [ "${#lines[@]}" -eq 5 ]
    local n='[0-9]+\.[0-9]{3} +[0-9]+ 127\.0\.0\.1'
    [[ "${lines[0]}" =~ ^$n\ TCP_MISS/200\ ([0-9]+)\ GET\ $url\ alice\ HIER_DIRECT/127\.0\.42\.1\ application/octet-stream$ ]]
    local miss=${BASH_REMATCH[1]}
    [[ "${lines[1]}" =~ ^$n\ TCP_MEM_HIT/200\ ([0-9]+)\ GET\ $url\ alice\ HIER_NONE/-\ application/octet-stream$ ]]
    local hit=${BASH_REMATCH[1]}
    # Logged bytes are body plus reply headers.
    [ "$miss" -gt 10000 ]
    [ "$miss" -lt 11000 ]
    [ "$hit" -ge "$miss" ]
    [ "$hit" -lt 11000 ]
    [[ "${lines[2]}" =~ ^$n\ TCP_DENIED/407\ [0-9]+\ GET\ $url\ bob\ HIER_NONE/-\ text/html$ ]]
    [[ "${lines[3]}" =~ ^$n\ TCP_MISS/200\ 1[0-9]{3}\ GET\ $FLEET_ORIGIN/1000\.bin\ carol\ smith\ HIER_DIRECT/127\.0\.42\.1\ application/octet-stream$ ]]
    [[ "${lines[4]}" =~ ^$n\ TCP_TUNNEL/200\ [0-9]+\ CONNECT\ $FLEET_TUNNEL\ alice\ HIER_DIRECT/127\.0\.42\.1\ -$ ]]

    run "$FLEET" stop "$DIR"
    [ "$status" -eq 0 ]
    assert_all_gone
    run ! pgrep -af -- "$FLEET_SQUID_NAME_host1"
    run ! compgen -G "/dev/shm/*$FLEET_SQUID_NAME_host1*"
}
