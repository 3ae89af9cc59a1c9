#!/usr/bin/env bats
# wp-runall on the loopback fleet: serial and parallel output, --gather,
# --push, --script, --local, timeouts, hosts that do not answer, known-down
# hosts, --outdir, host keys, selection, Ctrl-C.
# Three fleets, started once: "fleet" (3 hosts + the refused and silent
# fixtures, 127.0.60.*) serves most tests; "wide" (20 hosts, 127.0.61.*) the
# tests of many hosts at once; "hang" (3 hosts + fixtures, 127.0.62.*) the
# tests that stop an sshd or add a host of their own. Each test has its own
# inventory. Address blocks 127.0.60-62.* belong to this file.
bats_require_minimum_version 1.5.0
load site

setup_file() {
    local src=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    export RUNALL_FLEET_TMP
    RUNALL_FLEET_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wp-runall-fleet.XXXXXX")
    local name args
    for name in fleet wide hang; do
        case $name in
        fleet) args=(--hosts 3 --base 127.0.60 --faults) ;;
        wide) args=(--hosts 20 --base 127.0.61) ;;
        hang) args=(--hosts 3 --base 127.0.62 --faults) ;;
        esac
        mkdir "$RUNALL_FLEET_TMP/$name"
        if ! "$src/tests/fleet/fleet" start "$RUNALL_FLEET_TMP/$name" "${args[@]}" >&2; then
            teardown_file
            return 1
        fi
    done
    set -a
    eval "$("$src/tests/fleet/fleet" env "$RUNALL_FLEET_TMP/fleet")"
    set +a
}

teardown_file() {
    local src=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)} name
    for name in fleet wide hang; do
        "$src/tests/fleet/fleet" stop "$RUNALL_FLEET_TMP/$name" || true
    done
    rm -rf "$RUNALL_FLEET_TMP"
}

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    RUNALL=$BIN/wp-runall
    HOSTS=$BIN/wp-hosts
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-runall.XXXXXX")
    DB=$T/wp.db
    export WP_CONFIG=$T/wp.conf
    printf '%s = %s\n' db "$DB" identity "$FLEET_IDENTITY" known-hosts "$FLEET_KNOWN_HOSTS" \
        connect-timeout 2 >"$WP_CONFIG"
    local h a p
    for h in $FLEET_HOSTS; do
        a=FLEET_ADDR_$h p=FLEET_PORT_$h
        "$HOSTS" add "$h" --address "${!a}" --port "${!p}"
    done
    # The hosts are one machine: a command tells them apart by the address it reached.
    ADDR='set -- $SSH_CONNECTION; a=$3'
    BG_PID=
    STOPPED_PID=
    RO_SSHD_PID=
}

teardown() {
    if [ -n "$BG_PID" ]; then
        kill -KILL "$BG_PID" 2>/dev/null || true
    fi
    if [ -n "$STOPPED_PID" ]; then
        kill -CONT "$STOPPED_PID" 2>/dev/null || true
    fi
    if [ -n "$RO_SSHD_PID" ]; then
        local p kids
        kids=$(pgrep -P "$RO_SSHD_PID" || true)
        for p in "$RO_SSHD_PID" $kids; do
            kill -TERM "$p" 2>/dev/null || true
        done
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$RO_SSHD_PID" $kids 2>/dev/null || break
            sleep 0.1
        done
        for p in "$RO_SSHD_PID" $kids; do
            kill -KILL "$p" 2>/dev/null || true
        done
    fi
    rm -rf "$T"
}

# use_fleet NAME: this test's inventory becomes a fresh one of the fleet
# NAME (wide, hang): every host of its hosts.tsv, its client key and
# known_hosts. Sets DB, FLEET (its directory), ADDR_OF[host].
use_fleet() {
    FLEET=$RUNALL_FLEET_TMP/$1
    DB=$T/$1.db
    export WP_CONFIG=$T/$1.conf
    printf '%s = %s\n' db "$DB" identity "$FLEET/id_ed25519" known-hosts "$FLEET/known_hosts" \
        connect-timeout 2 >"$WP_CONFIG"
    declare -gA ADDR_OF=()
    local name address port rest
    while IFS=$'\t' read -r name address port rest; do
        "$HOSTS" add "$name" --address "$address" --port "$port"
        ADDR_OF[$name]=$address
    done <"$FLEET/hosts.tsv"
}

# fold_hosts NAME...: names hostN folded as nodeset -f folds them
# (host[1-3,7]), computed here apart from wp-runall's own folding.
fold_hosts() {
    printf '%s\n' "$@" | sed 's/^host//' | sort -n | awk '
        function flush() { if (first != "") out = out (out == "" ? "" : ",") (first == last ? first : first "-" last) }
        first != "" && $1 == last + 1 { last = $1; next }
        { flush(); first = last = $1 }
        END { flush(); print (NR == 1 ? "host" out : "host[" out "]") }'
}

# no_process PATTERN: true once no process's command line matches (zombies have none)
no_process() {
    local i
    for ((i = 0; i < 50; i++)); do
        pgrep -f "$1" >/dev/null || return 0
        sleep 0.1
    done
    echo "still running: $(pgrep -af "$1")"
    return 1
}

@test "serially: each host in turn under its header, its exact output, words joined as ssh joins them" {
    run --separate-stderr "$RUNALL" -- "$ADDR;" 'echo "$a"; echo' 'two  words' '$HOME'
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    # the oracle: OpenSSH joins the words the same way; each host's login
    # has its own HOME (the fleet's SetEnv)
    local h expected=""
    for h in host1 host2 host3; do
        local home=FLEET_HOME_$h addr=FLEET_ADDR_$h
        [ "$(ssh -F "$FLEET_SSH_CONFIG" "$h" echo 'two  words' '$HOME')" = "two words ${!home}" ]
        expected+="== $h ==
${!addr}
two words ${!home}
"
    done
    [ "$output" = "${expected%$'\n'}" ]
    # the command's own exit status decides; stderr stays on stderr, as is
    run --separate-stderr "$RUNALL" -H host2 -- 'echo out; echo err >&2; printf no-newline; exit 4'
    [ "$status" -eq 1 ]
    [ "$output" = "== host2 ==
out
no-newline" ]
    [ "$stderr" = "err
wp-runall: 1 host: 0 ok, 1 failed
wp-runall: failed: host2: exit status 4: err" ]
}

@test "exit statuses 0, 3, 127 and killed by KILL and TERM, each host as it ended; 0 all ok, 1 any not, 69 none reached" {
    use_fleet wide
    local cmd="$ADDR; case \$a in
        ${ADDR_OF[host1]}) echo fine ;;
        ${ADDR_OF[host2]}) echo three; exit 3 ;;
        ${ADDR_OF[host3]}) no-such-command-61 ;;
        ${ADDR_OF[host4]}) echo dying; kill -KILL \$\$ ;;
        ${ADDR_OF[host5]}) kill -TERM \$\$ ;;
        esac"
    # the oracle: what OpenSSH's ssh says of the same command on the same hosts
    local h rc
    for h in host1 host2 host3; do
        rc=0
        ssh -n -F "$FLEET/ssh_config" "$h" "$cmd" >/dev/null 2>&1 || rc=$?
        case $h in host1) [ "$rc" -eq 0 ] ;; host2) [ "$rc" -eq 3 ] ;; host3) [ "$rc" -eq 127 ] ;; esac
    done
    local notfound # what the host's /bin/sh, which runs the command, says
    notfound=$(ssh -n -F "$FLEET/ssh_config" host3 "/bin/sh -c '$cmd'" 2>&1 | tail -1)
    [[ "$notfound" == "/bin/sh: "*": no-such-command-61: not found" ]]
    local summary="wp-runall: 5 hosts: 1 ok, 4 failed
wp-runall: failed: host2: exit status 3
wp-runall: failed: host3: exit status 127: $notfound
wp-runall: failed: host4: killed by signal KILL
wp-runall: failed: host5: killed by signal TERM"

    run --separate-stderr "$RUNALL" -H host1,host2,host3,host4,host5 -- "$cmd"
    [ "$status" -eq 1 ]
    [ "$output" = "== host1 ==
fine
== host2 ==
three
== host3 ==
== host4 ==
dying
== host5 ==" ]
    [ "$stderr" = "$notfound
$summary" ]

    run --separate-stderr "$RUNALL" -j 5 -H host1,host2,host3,host4,host5 -- "$cmd"
    [ "$status" -eq 1 ]
    [ "$(sort <<<"$output")" = "host1: fine
host2: three
host4: dying" ]
    [ "$stderr" = "host3: $notfound
$summary" ]

    run --separate-stderr "$RUNALL" -j 5 --gather -H host1,host2,host3,host4,host5 -- "$cmd"
    [ "$status" -eq 1 ]
    [ "$output" = "== host1 (1) ==
fine
== host2 (1, exit status 3) ==
three
== host3 (1, exit status 127) ==
== host4 (1, killed by signal KILL) ==
dying
== host5 (1, killed by signal TERM) ==" ]

    run --separate-stderr "$RUNALL" -j 5 --outdir "$T/out" -H host1,host2,host3,host4,host5 -- "$cmd"
    [ "$status" -eq 1 ]
    [ "$(cd "$T/out" && head -v -n 5 host[1-5].rc)" = "==> host1.rc <==
0

==> host2.rc <==
3

==> host3.rc <==
127

==> host4.rc <==
signal KILL

==> host5.rc <==
signal TERM" ]
    [ "$(cat "$T/out/host4.out")" = dying ]

    # the tool's own status: 0 when every host succeeded
    run --separate-stderr "$RUNALL" -j 2 -H host1,host6 -- "$cmd"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    # 1 when all were reached and all failed: not "none reachable"
    run --separate-stderr "$RUNALL" -j 2 -H host2,host3 -- "$cmd"
    [ "$status" -eq 1 ]
    # a host that cannot be reached (nothing listens there) among good ones: 1; alone: 69
    "$HOSTS" add gone --address 127.0.61.254 --port "$(cut -f3 "$FLEET/hosts.tsv" | head -1)"
    run --separate-stderr "$RUNALL" -j 2 -H host1,gone -- "$cmd"
    [ "$status" -eq 1 ]
    [ "$output" = "host1: fine" ]
    [ "$stderr" = "wp-runall: 2 hosts: 1 ok, 1 unreachable
wp-runall: unreachable: gone: connect: Connection refused" ]
    run --separate-stderr "$RUNALL" -H gone -- "$cmd"
    [ "$status" -eq 69 ]
    [ "$output" = "== gone ==" ]
}

@test "-j 3: whole lines, each prefixed with its host, in each host's order, never mixed mid-line" {
    # Half lines with pauses between the halves, then a burst: hosts overlap in time.
    local cmd='i=0; while [ $i -lt 40 ]; do printf "%s first-%s " "$a" $i; sleep 0.01; echo second-$i; i=$((i+1)); done; seq 1 2000 | sed "s/^/$a burst /"; echo "err $a" >&2'
    run --separate-stderr "$RUNALL" -j 3 -- "$ADDR; $cmd"
    [ "$status" -eq 0 ]
    [ "$(wc -l <<<"$output")" -eq $((3 * 2040)) ]
    local h a expected
    for h in host1 host2 host3; do
        a=FLEET_ADDR_$h
        expected=$(a=${!a} sh -c "$cmd" 2>/dev/null | sed "s/^/$h: /")
        [ "$(grep "^$h: " <<<"$output")" = "$expected" ]
        grep -qx "$h: err ${!a}" <<<"$stderr"
    done
    # nothing else: every line is one host's whole line
    [ "$(grep -cvE '^host[1-3]: ' <<<"$output")" -eq 0 ]
    # and the hosts did run side by side
    [ "$(cut -d: -f1 <<<"$output" | uniq | wc -l)" -gt 3 ]
}

@test "-j 20, 1000 lines from each of 20 hosts in odd-sized blocks: every line whole, prefixed, in order, none mixed" {
    use_fleet wide
    local pad=abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789-abcdefghijklmnopqrstuvwxyz
    # Ten bursts of 100 lines, 50 ms apart, so that the hosts' outputs overlap
    # in time; dd writes them in 997-byte blocks: nearly every write ends mid-line.
    run --separate-stderr "$RUNALL" -j 20 -- "$ADDR;" \
        "i=0; while [ \$i -lt 1000 ]; do seq \$((i + 1)) \$((i + 100)); i=\$((i + 100)); sleep 0.05; done |" \
        "sed \"s/^/\$a line /; s/\\\$/ $pad/\" | dd bs=997 iflag=fullblock 2>/dev/null"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(wc -l <<<"$output")" -eq 20000 ]
    # Each line must be exactly "hostN: ADDRESS line K PAD", K counting 1..1000 per host.
    local hosts="" h
    for h in "${!ADDR_OF[@]}"; do
        hosts+="$h=${ADDR_OF[$h]} "
    done
    awk -v hosts="$hosts" -v pad="$pad" '
        BEGIN { n = split(hosts, hs, " "); for (i = 1; i <= n; i++) { split(hs[i], kv, "="); addr[kv[1]] = kv[2] } }
        {
            p = index($0, ": ")
            host = p ? substr($0, 1, p - 1) : ""
            if (!(host in addr)) { print "line " NR " has no host prefix: " $0; bad++; next }
            want = addr[host] " line " (++count[host]) " " pad
            if (substr($0, p + 2) != want) { print "line " NR ": [" $0 "] wanted [" host ": " want "]"; bad++ }
        }
        END {
            for (h in addr) if (count[h] != 1000) { print h ": " count[h] + 0 " lines"; bad++ }
            exit bad > 0
        }' <<<"$output"
    # the hosts did run side by side: their lines alternate many times
    [ "$(cut -d: -f1 <<<"$output" | uniq | wc -l)" -gt 20 ]
}

@test "--gather: identical outputs once with their hosts; a different exit status is its own group" {
    for j in 1 3; do
        run --separate-stderr "$RUNALL" -j $j --gather -- "$ADDR; echo same; echo lines; test \"\$a\" != $FLEET_ADDR_host2"
        [ "$status" -eq 1 ]
        [ "$output" = "== host[1,3] (2) ==
same
lines
== host2 (1, exit status 1) ==
same
lines" ]
        [ "$stderr" = "wp-runall: 3 hosts: 2 ok, 1 failed
wp-runall: failed: host2: exit status 1" ]
    done

    # 20 hosts, -j 20: the output (1000 lines) is one of three, the status
    # one of two, both from the host's address; six groups, each headed by
    # its hosts folded into ranges (as nodeset -f folds them) and counted.
    use_fleet wide
    run --separate-stderr "$RUNALL" -j 20 --gather -- \
        'set -- $SSH_CONNECTION; n=${3##*.}; seq 1000 | sed "s/^/class $((n % 3)) /"; exit $((n % 2 * 4))'
    [ "$status" -eq 1 ]
    local -A members=()
    local keys=() key h n expected="" summary="" failed=0
    for h in $(printf '%s\n' "${!ADDR_OF[@]}" | LC_ALL=C sort); do
        n=${ADDR_OF[$h]##*.}
        key="$((n % 3)) $((n % 2 * 4))"
        [ -n "${members[$key]:-}" ] || keys+=("$key")
        members[$key]+="${members[$key]:+ }$h"
        if ((n % 2)); then
            summary+=$'\n'"wp-runall: failed: $h: exit status 4"
            failed=$((failed + 1))
        fi
    done
    [ "${#keys[@]}" -eq 6 ]
    for key in "${keys[@]}"; do
        set -- $key
        expected+="== $(fold_hosts ${members[$key]}) ($(wc -w <<<"${members[$key]}")$([ "$2" -eq 0 ] || echo ", exit status $2")) =="$'\n'
        expected+="$(seq 1000 | sed "s/^/class $1 /")"$'\n'
    done
    [ "$output"$'\n' = "$expected" ]
    [ "$stderr" = "wp-runall: 20 hosts: $((20 - failed)) ok, $failed failed$summary" ]
}

@test "--push: uploaded under a temporary name, renamed over, mode kept; then the command; none after a failed upload" {
    mkdir "$T/remote"
    printf '#!/bin/sh\necho "pushed script ran on $1"\n' >"$T/conf.sh"
    chmod 751 "$T/conf.sh"
    echo old >"$T/remote/conf.sh"
    chmod 600 "$T/remote/conf.sh"
    # into a directory, as cp does; the command runs what was pushed
    run --separate-stderr "$RUNALL" -H host1,host2 --push "$T/conf.sh" "$T/remote" -- \
        "$ADDR;" 'stat -c "%a %s" ' "$T/remote/conf.sh;" "$T/remote/conf.sh" '"$a"'
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$output" = "== host1 ==
751 $(stat -c %s "$T/conf.sh")
pushed script ran on $FLEET_ADDR_host1
== host2 ==
751 $(stat -c %s "$T/conf.sh")
pushed script ran on $FLEET_ADDR_host2" ]
    cmp "$T/conf.sh" "$T/remote/conf.sh"
    [ "$(ls -A "$T/remote")" = conf.sh ] # no temporary left behind

    # a data file, then a command that reads it: the host prints exactly the file
    printf 'line one\n\ttabbed $HOME `x` \\n\n\nlast, no newline' >"$T/data.txt"
    run --separate-stderr "$RUNALL" -j 2 -H host1,host2 --outdir "$T/read" --push "$T/data.txt" "$T/remote/" -- \
        cat "$T/remote/data.txt"
    [ "$status" -eq 0 ]
    cmp "$T/data.txt" "$T/read/host1.out"
    cmp "$T/data.txt" "$T/read/host2.out"
    rm "$T/remote/data.txt"

    # a push alone, to an explicit file name
    chmod 640 "$T/conf.sh"
    run --separate-stderr "$RUNALL" -H host3 --push "$T/conf.sh" "$T/remote/renamed.sh"
    [ "$status" -eq 0 ]
    [ "$output" = "== host3 ==" ]
    [ "$(stat -c %a "$T/remote/renamed.sh")" = 640 ]

    # the upload fails: the command is not run
    run --separate-stderr "$RUNALL" -H host1 --push "$T/conf.sh" "$T/missing/dir/conf.sh" -- touch "$T/ran"
    [ "$status" -eq 1 ]
    [ ! -e "$T/ran" ]
    [[ "$stderr" == *"wp-runall: failed: host1: push $T/missing/dir/conf.sh: "* ]]
    run "$RUNALL" -H host1 --push "$T/nope" "$T/remote/" -- true
    [ "$status" -eq 66 ]
    [ "$output" = "wp-runall: cannot read $T/nope: No such file or directory" ]
}

@test "--push: an upload refused on one host (read-only directory there) skips its command; the others run" {
    unshare -m true 2>/dev/null || skip "needs unshare -m (root) for a host with a read-only directory"
    use_fleet hang
    "$HOSTS" set refused --active no
    "$HOSTS" set silent --active no
    "$HOSTS" set host2 --active no
    # One more host, "ro", on this machine like the others, but its sshd in a
    # mount namespace of its own where $T/dest is a read-only bind mount.
    mkdir "$T/dest"
    ssh-keygen -q -t ed25519 -N '' -f "$T/ro_host_key"
    local port # a free one: another run of this file may hold a fixed one
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.62.10", 0)); print(s.getsockname()[1])')
    printf '%s\n' "ListenAddress 127.0.62.10:$port" "AddressFamily inet" "HostKey $T/ro_host_key" \
        "PidFile $T/ro_sshd.pid" "AuthorizedKeysFile $FLEET/authorized_keys" "StrictModes no" "UsePAM no" \
        "PasswordAuthentication no" "KbdInteractiveAuthentication no" "PermitRootLogin prohibit-password" \
        "Subsystem sftp internal-sftp" "UseDNS no" "SetEnv HOME=$T/ro_home" >"$T/ro_sshd_config"
    mkdir "$T/ro_home" # an empty HOME, as the fleet gives its hosts (see tests/fleet/fleet)
    unshare -m sh -c 'mount --bind -o ro "$1" "$1" && exec /usr/sbin/sshd -D -f "$2" -E "$3"' sh \
        "$T/dest" "$T/ro_sshd_config" "$T/ro_sshd.log" </dev/null >"$T/ro_sshd.out" 2>&1 3>&- &
    RO_SSHD_PID=$!
    cp "$FLEET/known_hosts" "$T/known_hosts"
    printf '[127.0.62.10]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$T/ro_host_key.pub")" >>"$T/known_hosts"
    sed -i "s|^known-hosts = .*|known-hosts = $T/known_hosts|" "$WP_CONFIG"
    "$HOSTS" add ro --address 127.0.62.10 --port "$port"
    local i
    for ((i = 0; i < 100; i++)); do
        "$RUNALL" -q -H ro -- true >/dev/null 2>&1 && break
        kill -0 "$RO_SSHD_PID" || { cat "$T/ro_sshd.out" "$T/ro_sshd.log"; return 1; }
        sleep 0.1
    done
    [ "$i" -lt 100 ]
    # the oracle: that host really cannot write there, and the others can
    run ssh -n -F "$FLEET/ssh_config" -o HostName=127.0.62.10 -o Port="$port" \
        -o UserKnownHostsFile="$T/known_hosts" host1 "touch $T/dest/probe"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Read-only file system"* ]]
    ssh -n -F "$FLEET/ssh_config" host1 "touch $T/dest/probe && rm $T/dest/probe"

    printf 'pushed\ncontent\n' >"$T/conf.txt"
    for j in 1 3; do
        rm -f "$T"/ran-* "$T/dest/conf.txt"
        run --separate-stderr "$RUNALL" -j $j --push "$T/conf.txt" "$T/dest/conf.txt" -- \
            "$ADDR;" "touch $T/ran-\$a;" cat "$T/dest/conf.txt"
        [ "$status" -eq 1 ]
        if [ "$j" -eq 1 ]; then
            [ "$output" = "== host1 ==
pushed
content
== host3 ==
pushed
content
== ro ==" ]
        else
            [ "$(sort <<<"$output")" = "host1: content
host1: pushed
host3: content
host3: pushed" ]
        fi
        [ "$(head -1 <<<"$stderr")" = "wp-runall: 3 hosts: 2 ok, 1 failed" ]
        [[ "$(sed -n 2p <<<"$stderr")" == "wp-runall: failed: ro: push $T/dest/conf.txt: create $T/dest/.conf.txt.wp-tmp."* ]]
        [ "$(wc -l <<<"$stderr")" -eq 2 ]
        [ -e "$T/ran-${ADDR_OF[host1]}" ]
        [ -e "$T/ran-${ADDR_OF[host3]}" ]
        [ ! -e "$T/ran-127.0.62.10" ]
        cmp "$T/conf.txt" "$T/dest/conf.txt"
        [ "$(ls -A "$T/dest")" = conf.txt ] # no temporary left behind
    done
    # a refused push is the operator's request failing on a host that
    # answered: host_status records the contact, never a failure that would
    # bring the host nearer to --down-after (man wp-runall: HOST STATUS)
    [ "$(sqlite3 "$DB" "SELECT consecutive_failures, last_contact IS NOT NULL FROM host_status
        JOIN servers ON servers.id = host_status.server_id WHERE servers.name = 'ro'")" = "0|1" ]
}

@test "--script: a local script run on each host by sh -s with its arguments, quoted" {
    printf '%s\n' '# no shebang needed: sh reads it' 'printf "[%s]\n" "$@"' 'set -- $SSH_CONNECTION' \
        'echo "at $3"' 'exit 7' >"$T/check.sh"
    run --separate-stderr "$RUNALL" -H host1,host3 --script "$T/check.sh" -- a 'b  c' '$HOME' "it's"
    [ "$status" -eq 1 ]
    [ "$output" = "== host1 ==
[a]
[b  c]
[\$HOME]
[it's]
at $FLEET_ADDR_host1
== host3 ==
[a]
[b  c]
[\$HOME]
[it's]
at $FLEET_ADDR_host3" ]
    [ "$stderr" = "wp-runall: 2 hosts: 0 ok, 2 failed
wp-runall: failed: host1: exit status 7
wp-runall: failed: host3: exit status 7" ]
    run "$RUNALL" --script "$T/absent.sh"
    [ "$status" -eq 66 ]
}

@test "--local: the seed's loop: CMD HOST ARGS per host, WP_HOST WP_ADDRESS WP_PORT set, no shell" {
    cat >"$T/push_it.sh" <<'EOF'
#!/bin/sh
echo "\$1=$1 WP_HOST=$WP_HOST WP_ADDRESS=$WP_ADDRESS WP_PORT=$WP_PORT args=$# [$2] [$3]"
ssh -n -F "$FLEET_SSH_CONFIG" "$1" 'set -- $SSH_CONNECTION; echo "via ssh: $3"'
[ "$1" != host2 ]
EOF
    chmod +x "$T/push_it.sh"
    run --separate-stderr "$RUNALL" --local "$T/push_it.sh" -- 'x y' '$HOME;*'
    [ "$status" -eq 1 ]
    [ "$output" = "== host1 ==
\$1=host1 WP_HOST=host1 WP_ADDRESS=$FLEET_ADDR_host1 WP_PORT=$FLEET_PORT_host1 args=3 [x y] [\$HOME;*]
via ssh: $FLEET_ADDR_host1
== host2 ==
\$1=host2 WP_HOST=host2 WP_ADDRESS=$FLEET_ADDR_host2 WP_PORT=$FLEET_PORT_host2 args=3 [x y] [\$HOME;*]
via ssh: $FLEET_ADDR_host2
== host3 ==
\$1=host3 WP_HOST=host3 WP_ADDRESS=$FLEET_ADDR_host3 WP_PORT=$FLEET_PORT_host3 args=3 [x y] [\$HOME;*]
via ssh: $FLEET_ADDR_host3" ]
    [ "$stderr" = "wp-runall: 3 hosts: 2 ok, 1 failed
wp-runall: failed: host2: exit status 1" ]
    # no SSH from wp-runall itself: host_status is not touched
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM host_status')" -eq 0 ]
    run "$RUNALL" --local "$T/absent.sh"
    [ "$status" -eq 66 ]
}

@test "on AMD with glibc < 2.40 the SSH tools run again with REP MOVSB off; what they start sees the caller's environment" {
    # The oracle: the CPU's vendor and flags from /proc/cpuinfo, glibc's
    # version from ldd. On such a machine wp-fetchlogs, wp-runall and
    # wp-provision execute themselves once more, by the path they were
    # started by, with glibc's REP MOVSB threshold at 1 GiB (see
    # lib/base/memcpy_tuning.cpp); never when the caller set GLIBC_TUNABLES, nor
    # when started through the dynamic loader by hand; and the tools that
    # do not move bulk data never. Elsewhere none of them does.
    strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
    no_leak_check_under_strace
    local expect=0 glibc tool n
    glibc=$(ldd --version | awk 'NR == 1 { print $NF }')
    if grep -q -m1 '^vendor_id.*AuthenticAMD' /proc/cpuinfo &&
        grep -m1 '^flags' /proc/cpuinfo | grep -q -w -E 'erms|fsrm' &&
        awk -v v="$glibc" 'BEGIN { split(v, p, "."); exit !(p[1] == 2 && p[2] < 40) }'; then
        expect=1
    fi
    local tunables='GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=1073741824'
    local loader
    loader=$(readelf -l "$BIN/wp-fetchlogs" | sed -n 's/.*interpreter: \(.*\)]$/\1/p')
    [ -x "$loader" ]
    if ((expect)); then
        # and glibc takes the setting (1 GiB = 0x40000000)
        env "$tunables" "$loader" --list-tunables | grep -q -x 'glibc.cpu.x86_rep_movsb_threshold: 0x40000000 .*'
    fi
    # execs [PROGRAM]: how often the trace shows PROGRAM run again with the setting
    execs() {
        grep -c "^[0-9]* *execve(\"$1\", \[\"$1\", \"--version\"\], \[.*\"$tunables\"" "$T/trace" || true
    }
    ln -s "$BIN/wp-runall" "$T/runall-link"
    for tool in "$BIN/wp-fetchlogs" "$BIN/wp-runall" "$BIN/wp-provision" "$T/runall-link" \
        "$BIN/wp-parse" "$BIN/wp-hosts" "$BIN/wp-rollup"; do
        run env -u GLIBC_TUNABLES strace -f -v -s 400 -e trace=execve -o "$T/trace" "$tool" --version
        [ "$status" -eq 0 ]
        n=$(execs "$tool")
        case ${tool##*/} in
        wp-fetchlogs | wp-runall | wp-provision | runall-link) [ "$n" -eq "$expect" ] ;;
        *) [ "$n" -eq 0 ] ;;
        esac
        # the caller's own setting, even an empty one, is left alone
        GLIBC_TUNABLES= strace -f -e trace=execve -o "$T/trace" "$tool" --version >/dev/null
        [ "$(grep -c 'execve(' "$T/trace")" -eq 1 ]
    done
    # through the loader by hand: runs as it is, once
    run env -u GLIBC_TUNABLES strace -f -e trace=execve -o "$T/trace" "$loader" "$BIN/wp-fetchlogs" --version
    [ "$status" -eq 0 ]
    [ "$output" = "$("$BIN/wp-fetchlogs" --version)" ]
    [ "$(grep -c 'execve(' "$T/trace")" -eq 1 ]
    # A local command started by wp-runall gets the environment wp-runall
    # got, and its parent is named wp-runall (ps, pgrep), not "exe".
    printf '#!/bin/sh\necho "[${GLIBC_TUNABLES-unset}] $(cat /proc/$PPID/comm)"\n' >"$T/tunables.sh"
    chmod +x "$T/tunables.sh"
    run --separate-stderr env -u GLIBC_TUNABLES "$RUNALL" -H host1 --local "$T/tunables.sh"
    [ "$status" -eq 0 ]
    [ "$output" = "== host1 ==
[unset] wp-runall" ]
    run --separate-stderr env GLIBC_TUNABLES=glibc.malloc.check=0 "$RUNALL" -H host1 --local "$T/tunables.sh"
    [ "$status" -eq 0 ]
    [ "$output" = "== host1 ==
[glibc.malloc.check=0] wp-runall" ]
}

@test "a hung command (--timeout 2) is ended on the host, and the next host runs" {
    local mark=60.$$$RANDOM
    local t0=$SECONDS
    run --separate-stderr "$RUNALL" -H host1,host2 --timeout 2 -- \
        "$ADDR; if [ \"\$a\" = $FLEET_ADDR_host1 ]; then sleep $mark; fi; echo done"
    [ "$status" -eq 1 ]
    [ $((SECONDS - t0)) -le 6 ]
    [ "$output" = "== host1 ==
== host2 ==
done" ]
    [ "$stderr" = "wp-runall: 2 hosts: 1 ok, 1 timed out
wp-runall: timed out: host1: timed out after 2 s" ]
    no_process "sleep $mark"
    # a timed-out host was reached: not a failure of the host
    [ "$(status_of host1)" = "0||1" ]
}

@test "a stopped sshd, a host that never sends a banner, a closed port: one run ends within the timeouts, each named" {
    use_fleet hang
    STOPPED_PID=$(sed -n 's/^FLEET_SSHD_PID_host2=//p' "$FLEET/fleet.env")
    [ -n "$STOPPED_PID" ]
    kill -STOP "$STOPPED_PID" # it still accepts TCP connections (the kernel does), and says nothing
    local unreachable="wp-runall: unreachable: host2: connect: Timeout connecting to ${ADDR_OF[host2]}
wp-runall: unreachable: refused: connect: Connection refused
wp-runall: unreachable: silent: connect: Timeout connecting to ${ADDR_OF[silent]}"

    # Serially, each host takes at most connect-timeout (2, wp.conf) plus
    # --timeout (3): 5 hosts, 25 s. Past that, something waited on a hung host.
    run --separate-stderr timeout 25 "$RUNALL" --timeout 3 -- "$ADDR;" 'echo "ran at $a"'
    [ "$status" -eq 1 ]
    [ "$output" = "== host1 ==
ran at ${ADDR_OF[host1]}
== host2 ==
== host3 ==
ran at ${ADDR_OF[host3]}
== refused ==
== silent ==" ]
    [ "$stderr" = "wp-runall: 5 hosts: 2 ok, 3 unreachable
$unreachable" ]

    # In parallel, the whole run within one host's bound (5 s), plus start-up.
    run --separate-stderr timeout 10 "$RUNALL" -j 5 --timeout 3 -- "$ADDR;" 'echo "ran at $a"'
    [ "$status" -eq 1 ]
    [ "$(sort <<<"$output")" = "host1: ran at ${ADDR_OF[host1]}
host3: ran at ${ADDR_OF[host3]}" ]
    [ "$stderr" = "wp-runall: 5 hosts: 2 ok, 3 unreachable
$unreachable" ]

    # A --timeout shorter than the connect timeout bounds the wait for an
    # answer too: 60 s to connect but --timeout 2, so 2 s per hung host
    # (serially two of them) plus the rest, well under 15 s.
    run --separate-stderr timeout 15 "$RUNALL" --connect-timeout 60 --timeout 2 -- "$ADDR;" 'echo "ran at $a"'
    [ "$status" -eq 1 ]
    [ "$stderr" = "wp-runall: 5 hosts: 2 ok, 3 unreachable
$unreachable" ]

    # only the stopped one, the silent one and the closed port: none reached
    # (three failures in a row by now: known to be down, unless included)
    run --separate-stderr timeout 10 "$RUNALL" -j 3 --timeout 3 --include-down -H host2,refused,silent -- true
    [ "$status" -eq 69 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-runall: 3 hosts: 0 ok, 3 unreachable
$unreachable" ]
    # selected, not named with -H (which would try them, with a note)
    run --separate-stderr "$RUNALL" --where "name IN ('host2', 'refused', 'silent')" -- true
    [ "$status" -eq 69 ]
    [ "$stderr" = "wp-runall: 3 hosts: 0 ok, 3 skipped as down
wp-runall: skipped as down: host2: 4 consecutive failures
wp-runall: skipped as down: refused: 4 consecutive failures
wp-runall: skipped as down: silent: 4 consecutive failures" ]
}

@test "hosts that do not answer are counted in the summary with exit 1; only those selected: 69" {
    add_fault_hosts
    run --separate-stderr "$RUNALL" -j 5 -- echo hi
    [ "$status" -eq 1 ]
    [ "$(sort <<<"$output")" = "host1: hi
host2: hi
host3: hi" ]
    [ "$stderr" = "wp-runall: 5 hosts: 3 ok, 2 unreachable
wp-runall: unreachable: refused: connect: Connection refused
wp-runall: unreachable: silent: connect: Timeout connecting to $FLEET_ADDR_silent" ]
    [ "$(status_of host1)" = "0||1" ]
    [ "$(status_of refused)" = "1|connect: Connection refused|0" ]

    run --separate-stderr "$RUNALL" -j 2 -H refused,silent -- echo hi
    [ "$status" -eq 69 ]
    [ -z "$output" ]
    [ "$(head -1 <<<"$stderr")" = "wp-runall: 2 hosts: 0 ok, 2 unreachable" ]
    [ "$(status_of refused | cut -d'|' -f1)" = 2 ]
    [ "$(status_of silent | cut -d'|' -f1)" = 2 ]
}

@test "known-down hosts are skipped and counted: status file state 2, --down-after failures; --include-down" {
    printf 'host1 0\nhost2 2 CRITICAL\nhost3 1\nnot a line\n' >"$T/host_status.txt"
    sqlite3 "$DB" "INSERT INTO host_status (server_id, consecutive_failures, last_error)
        SELECT id, 3, 'connect: Connection refused' FROM servers WHERE name = 'host3'"
    run --separate-stderr "$RUNALL" --status-file "$T/host_status.txt" -- echo hi
    [ "$status" -eq 0 ]
    [ "$output" = "== host1 ==
hi" ]
    [ "$stderr" = "wp-runall: warning: $T/host_status.txt: 1 line not in the form 'host state' ignored (first: line 4)
wp-runall: 3 hosts: 1 ok, 2 skipped as down
wp-runall: skipped as down: host2: state 2 in the status file
wp-runall: skipped as down: host3: 3 consecutive failures" ]

    run --separate-stderr "$RUNALL" --status-file "$T/host_status.txt" --list
    [ "$status" -eq 0 ]
    [ "$output" = host1 ]
    run --separate-stderr "$RUNALL" --down-after 4 --list
    [ "$output" = "host[1-3]" ]

    # the operator insists: all three run; a success clears host3's count
    run --separate-stderr "$RUNALL" -j 3 --status-file "$T/host_status.txt" --include-down -- echo hi
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-runall: warning: $T/host_status.txt: 1 line not in the form 'host state' ignored (first: line 4)" ]
    [ "$(wc -l <<<"$output")" -eq 3 ]
    [ "$(status_of host3)" = "0|connect: Connection refused|1" ]

    # nothing but down hosts selected: nothing reachable
    run --separate-stderr "$RUNALL" --where "name = 'host2'" --status-file "$T/host_status.txt" -- echo hi
    [ "$status" -eq 69 ]
    [ -z "$output" ]
    # a down host named with -H is tried all the same, with a note
    run --separate-stderr "$RUNALL" -H host2 --status-file "$T/host_status.txt" -- echo hi
    [ "$status" -eq 0 ]
    [ "$output" = "== host2 ==
hi" ]
    [ "${stderr_lines[1]}" = "wp-runall: note: host2 is known to be down (state 2 in the status file); tried because -H names it" ]
}

@test "--outdir: HOST.out, HOST.err, HOST.rc for every host, written whole; nothing on stdout" {
    add_fault_hosts
    "$HOSTS" set silent --active no
    run --separate-stderr "$RUNALL" -j 3 --outdir "$T/out" -- \
        "$ADDR; echo \"out \$a\"; echo \"err \$a\" >&2; [ \"\$a\" != $FLEET_ADDR_host2 ] || exit 3"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    local h a
    for h in host1 host2 host3; do
        a=FLEET_ADDR_$h
        [ "$(cat "$T/out/$h.out")" = "out ${!a}" ]
        [ "$(cat "$T/out/$h.err")" = "err ${!a}" ]
    done
    [ "$(cat "$T/out/host1.rc")" = 0 ]
    [ "$(cat "$T/out/host2.rc")" = 3 ]
    [ "$(cat "$T/out/refused.rc")" = unreachable ]
    [ "$(cat "$T/out/refused.err")" = "connect: Connection refused" ]
    [ -z "$(cat "$T/out/refused.out")" ]
    [ "$(ls "$T/out" | wc -l)" -eq 12 ] # no temporaries, nothing for the inactive host
    [ "$stderr" = "wp-runall: 4 hosts: 2 ok, 1 failed, 1 unreachable
wp-runall: failed: host2: exit status 3: err $FLEET_ADDR_host2
wp-runall: unreachable: refused: connect: Connection refused" ]
}

@test "a changed host key is refused, never accepted, --accept-new or not; the other hosts run" {
    ssh-keygen -q -t ed25519 -N '' -f "$T/other"
    awk -v k="$(cut -d' ' -f2 "$T/other.pub")" -v a="[$FLEET_ADDR_host1]:" \
        'index($1, a) == 1 { $3 = k } { print }' "$FLEET_KNOWN_HOSTS" >"$T/known_hosts"
    cp "$T/known_hosts" "$T/known_hosts.before"
    local fp
    fp=$(ssh-keygen -l -E sha256 -f "$RUNALL_FLEET_TMP/fleet/host1/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
    for flags in "" "--accept-new"; do
        run --separate-stderr "$RUNALL" -j 3 --known-hosts "$T/known_hosts" $flags -- echo ran
        [ "$status" -eq 1 ]
        [ "$(sort <<<"$output")" = "host2: ran
host3: ran" ]
        [ "$(head -1 <<<"$stderr")" = "wp-runall: 3 hosts: 2 ok, 1 failed" ]
        [[ "$(sed -n 2p <<<"$stderr")" == "wp-runall: failed: host1: host key: $FLEET_ADDR_host1:$FLEET_PORT_host1 offered ssh-ed25519 key $fp, which does not match the key recorded in $T/known_hosts: the key has CHANGED"* ]]
    done
    cmp "$T/known_hosts" "$T/known_hosts.before"
    [[ "$(status_of host1)" == "2|host key: "*"CHANGED"*"|0" ]]
}

@test "selection: inventory, -H, --hosts-file, stdin, -x, --where; unknown names 66 before anything runs" {
    "$HOSTS" add host4 --address 127.0.60.99
    "$HOSTS" set host4 --active no
    run "$RUNALL" --list
    [ "$output" = "host[1-3]" ]
    run "$RUNALL" -H host3,host4,host1,host3 --list-each # named: in that order, inactive too
    [ "$output" = "host3
host4
host1" ]
    run "$RUNALL" -H host3,host4,host1,host3 --list # folded: sorted
    [ "$output" = "host[1,3-4]" ]
    run "$RUNALL" --where "name <> 'host2'" -x host3 --list
    [ "$output" = host1 ]
    printf 'host2 # comment\n\nhost1,host3\n' >"$T/hosts.txt"
    run "$RUNALL" --hosts-file "$T/hosts.txt" -x host1 --list
    [ "$output" = "host[2-3]" ]
    run "$RUNALL" --list-each - <<<"host3 host2" # "-": the names are on stdin
    [ "$output" = "host3
host2" ]
    run --separate-stderr "$RUNALL" --hosts-file - -- echo hi <<<"host2"
    [ "$status" -eq 0 ]
    [ "$output" = "== host2 ==
hi" ]
    run --separate-stderr "$RUNALL" -H host2 echo no dashes needed # as with ssh; -H takes one list
    [ "$status" -eq 0 ]
    [ "$output" = "== host2 ==
no dashes needed" ]
    run --separate-stderr "$RUNALL" --hosts-file /dev/null -- echo hi
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]

    run --separate-stderr "$RUNALL" -H host1,tor9 -x mtl9 -- touch "$T/ran"
    [ "$status" -eq 66 ]
    [ "$stderr" = "wp-runall: no server named tor9, mtl9 in the inventory" ]
    run "$RUNALL" -x host9 -- touch "$T/ran"
    [ "$status" -eq 66 ]
    [ ! -e "$T/ran" ]
    printf 'host1\nbad/name\n' >"$T/bad.txt"
    run --separate-stderr "$RUNALL" --hosts-file "$T/bad.txt" --list
    [ "$status" -eq 65 ]
    [[ "$stderr" == "wp-runall: $T/bad.txt:2: host name 'bad/name' "* ]]
    run "$RUNALL" -H 'a;b' -- true
    [ "$status" -eq 64 ]
    run "$RUNALL" --where "1); DELETE FROM servers; --" --list
    [ "$status" -eq 64 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM servers')" -eq 4 ]
    run "$RUNALL"
    [ "$status" -eq 64 ]
    [[ "$output" == *"nothing to run"* ]]
    run "$RUNALL" --script "$T/hosts.txt" --local true
    [ "$status" -eq 64 ]
}

@test "--where \"virt = 'xen'\": just the Xen hosts, listed and run; with -H and -x" {
    "$HOSTS" set host1 --virt xen
    "$HOSTS" set host2 --virt kvm
    "$HOSTS" set host3 --virt xen
    "$HOSTS" add host4 --address 127.0.60.99 --virt xen
    "$HOSTS" set host4 --active no # inactive: not taken unless named
    run --separate-stderr "$RUNALL" --where "virt = 'xen'" --list
    [ "$status" -eq 0 ]
    [ "$output" = "host[1,3]" ]
    run --separate-stderr "$RUNALL" --where "virt = 'xen'" -j 2 -- "$ADDR;" 'echo "xen at $a"'
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(sort <<<"$output")" = "host1: xen at $FLEET_ADDR_host1
host3: xen at $FLEET_ADDR_host3" ]
    run "$RUNALL" --where "virt = 'xen'" -H host2,host3,host4 --list
    [ "$output" = "host[3-4]" ]
    run "$RUNALL" --where "virt = 'xen'" -x host1 --list
    [ "$output" = host3 ]
    run --separate-stderr "$RUNALL" --where "virt = 'openvz'" --list
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "host ranges: -H 'h[71-73]' --list folds back to h[71-73]; -w, -x, globs, --hosts-file, stdin; bad ranges" {
    local h
    for h in h71 h72 h73 h75 ams01 ams02 ams1; do
        "$HOSTS" add "$h" --address 127.0.60.99
    done
    run --separate-stderr "$RUNALL" -H 'h[71-73]' --list
    [ "$status" -eq 0 ]
    [ "$output" = "h[71-73]" ]
    [ -z "$stderr" ]
    run --separate-stderr "$RUNALL" -H 'h[71-73]' --list-each
    [ "$output" = "h71
h72
h73" ]
    # everything, folded: padding kept apart (ams1 is not ams01)
    run --separate-stderr "$RUNALL" --list
    [ "$output" = "ams1,ams[01-02],h[71-73,75],host[1-3]" ]
    # -w is -H; -x takes ranges
    run --separate-stderr "$RUNALL" -w 'h[71-73,75]' -x 'h[72-73]' --list
    [ "$status" -eq 0 ]
    [ "$output" = "h[71,75]" ]
    # globs match inventory names, in name order
    run --separate-stderr "$RUNALL" -H 'ams*' --list
    [ "$output" = "ams1,ams[01-02]" ]
    run --separate-stderr "$RUNALL" -H 'h7?,host1' -x 'h7[2-3]' --list-each
    [ "$output" = "h71
h75
host1" ]
    run --separate-stderr "$RUNALL" -x 'host*,ams*' --list
    [ "$output" = "h[71-73,75]" ]
    # ranges in a list file and on stdin
    printf 'h[71-72] # two\nams[01-02],host[1-3]\n' >"$T/ranges.txt"
    run --separate-stderr "$RUNALL" --hosts-file "$T/ranges.txt" -x 'host?' --list
    [ "$status" -eq 0 ]
    [ "$output" = "ams[01-02],h[71-72]" ]
    run --separate-stderr "$RUNALL" --list - <<<"h[72-73] host[2,3]"
    [ "$output" = "h[72-73],host[2-3]" ]

    # a range naming a server the inventory lacks, a glob matching none: 66, nothing runs
    run --separate-stderr "$RUNALL" -H 'h[71-74]' -x 'nyc*' -- touch "$T/ran"
    [ "$status" -eq 66 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-runall: no server named h74, nyc* in the inventory" ]
    [ ! -e "$T/ran" ]
    # malformed ranges: 64 naming the option, 65 naming the file and line
    range_refused() { # STATUS STDERR ARGS...: wp-runall ARGS --list exits STATUS saying STDERR
        local want_status=$1 want=$2
        shift 2
        run --separate-stderr "$RUNALL" "$@" --list
        [ "$status" -eq "$want_status" ] && [ "$stderr" = "wp-runall: $want" ] || { echo "$*: $status $stderr"; return 1; }
    }
    range_refused 64 "-H: 'h[73-71]': range 73-71 runs backwards" -H 'h[73-71]'
    range_refused 64 "-x: 'h[1-': '[' without ']'" -x 'h[1-'
    range_refused 64 "-H: 'h[1-100001]': range 1-100001 is more than 100000 names" -w 'h[1-100001]'
    range_refused 64 "-H: 'h[71-73]!h72': '!' (set difference) is not supported; exclude names with -x" -H 'h[71-73]!h72'
    range_refused 64 "-H: 'h[a-c]': '[a-c]' is not a numeric range (brackets hold numbers and ranges only, e.g. [1-4,7])" \
        -H 'h[a-c]'
    printf 'host1\nh[2-1]\n' >"$T/bad.txt"
    range_refused 65 "$T/bad.txt:2: 'h[2-1]': range 2-1 runs backwards" --hosts-file "$T/bad.txt"
}

@test "host ranges run: -H 'host[1-3]' on the fleet, --gather headed by the folded hosts and their count" {
    run --separate-stderr "$RUNALL" -j 3 --gather -H 'host[1-3]' -x host2 -- echo same
    [ "$status" -eq 0 ]
    [ "$output" = "== host[1,3] (2) ==
same" ]
    [ -z "$stderr" ]
    run --separate-stderr "$RUNALL" -j 3 --gather -w 'host?' -- echo same
    [ "$status" -eq 0 ]
    [ "$output" = "== host[1-3] (3) ==
same" ]
}

@test "Ctrl-C: no further host is started, the running command is signalled, the summary is printed" {
    local mark=60.$$$RANDOM
    "$RUNALL" -- "sleep $mark" >"$T/out" 2>"$T/err" &
    BG_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        pgrep -f "sleep $mark" >/dev/null && break
        sleep 0.05
    done
    sleep 0.5 # well into the command, as an operator's Ctrl-C would be
    kill -INT "$BG_PID"
    local rc=0
    wait "$BG_PID" || rc=$?
    BG_PID=
    [ "$rc" -eq 130 ] # ended by the signal, after the summary
    [ "$(cat "$T/out")" = "== host1 ==" ]
    [ "$(head -1 "$T/err")" = "wp-runall: 3 hosts: 0 ok, 1 interrupted, 2 not run" ]
    [ "$(tail -2 "$T/err")" = "wp-runall: not run: host2
wp-runall: not run: host3" ]
    local left=0
    no_process "sleep $mark" || { left=1; kill $(pgrep -f "sleep $mark") 2>/dev/null || true; }
    [ "$left" -eq 0 ] # the remote command was signalled, not left running
}
