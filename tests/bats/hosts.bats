#!/usr/bin/env bats
# wp-hosts as an operator runs it, checked with the sqlite3 shell.
bats_require_minimum_version 1.5.0

setup() {
    HOSTS="$WP_BIN/wp-hosts"
    T=$(mktemp -d)
    DB="$T/wp.db"
    export WP_CONFIG="$T/wp.conf"
    printf 'db = %s\n' "$DB" > "$WP_CONFIG"
}

teardown() {
    rm -rf "$T"
}

@test "--version and --help go to stdout with status 0" {
    run --separate-stderr "$HOSTS" --version
    [ "$status" -eq 0 ]
    [[ "$output" == "wp-hosts (wp-tools) "* ]]
    [ -z "$stderr" ]
    run --separate-stderr "$HOSTS" --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"--db"* ]]
    [[ "$output" == *"retire"* ]]
    [ -z "$stderr" ]
}

@test "an unknown option exits 64 naming it on stderr" {
    run --separate-stderr "$HOSTS" list --frobnicate
    [ "$status" -eq 64 ]
    [ -z "$output" ]
    [[ "$stderr" == "wp-hosts: "*"--frobnicate"* ]]
}

@test "a typo in wp.conf exits 78 naming file and line" {
    printf '# comment\ndb = %s\nspol = /tmp/x\n' "$DB" > "$WP_CONFIG"
    run --separate-stderr "$HOSTS" list
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: $WP_CONFIG:3: unknown key 'spol'" ]
    printf 'db %s\n' "$DB" > "$WP_CONFIG"
    run --separate-stderr "$HOSTS" list
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: $WP_CONFIG:1: expected 'key = value'" ]
}

@test "a missing named config is an error, a missing default one is fine" {
    run --separate-stderr "$HOSTS" --config "$T/absent.conf" list
    [ "$status" -eq 78 ]
    [[ "$stderr" == "wp-hosts: cannot read configuration $T/absent.conf: No such file or directory" ]]
    unset WP_CONFIG
    run --separate-stderr "$HOSTS" --db "$DB" add tor1
    [ "$status" -eq 0 ]
}

@test "the command line wins over wp.conf" {
    run "$HOSTS" --db "$T/other.db" add tor1
    [ "$status" -eq 0 ]
    [ "$(sqlite3 "$T/other.db" 'SELECT name FROM servers')" = "tor1" ]
    [ ! -e "$DB" ]
}

@test "add, list, import, set and retire round-trip in a file sqlite3 reads" {
    "$HOSTS" add tor1 --address 192.0.2.10 --city Toronto --country CA --provider VPSVille --virt xen
    "$HOSTS" add dub1 --address 192.0.2.20 --port 2222 --city Dublin --country IE --provider MyHost.ie \
        --virt openvz --ssh-user proxyadm --log-path /srv/squid/access.log --rotate-cmd '/usr/sbin/squid -k rotate'
    printf 'name,address,city,country,provider,virt,active\nprg1,198.51.100.30,Prague,CZ,Cool Housing,openvz,yes\n"par1",198.51.100.7,"Paris, 11e",FR,Gandi,xen,no\n' > "$T/in.csv"
    "$HOSTS" import "$T/in.csv"

    [ "$(sqlite3 -separator '|' "$DB" "SELECT name, address, port, ssh_user, city, country, provider, virt, active, log_path, rotate_cmd FROM servers ORDER BY name")" = \
"dub1|192.0.2.20|2222|proxyadm|Dublin|IE|MyHost.ie|openvz|1|/srv/squid/access.log|/usr/sbin/squid -k rotate
par1|198.51.100.7|22||Paris, 11e|FR|Gandi|xen|0|/var/log/squid/access.log|squid -k rotate
prg1|198.51.100.30|22||Prague|CZ|Cool Housing|openvz|1|/var/log/squid/access.log|squid -k rotate
tor1|192.0.2.10|22||Toronto|CA|VPSVille|xen|1|/var/log/squid/access.log|squid -k rotate" ]

    run --separate-stderr "$HOSTS" list
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "${lines[0]}" = "$(printf 'name\taddress\tport\tcity\tcountry\tprovider\tvirt\tactive\tretired_at')" ]
    [ "${lines[1]}" = "$(printf 'dub1\t192.0.2.20\t2222\tDublin\tIE\tMyHost.ie\topenvz\tyes\t')" ]
    [ "${lines[2]}" = "$(printf 'par1\t198.51.100.7\t22\tParis, 11e\tFR\tGandi\txen\tno\t')" ]
    [ "${#lines[@]}" -eq 5 ]

    "$HOSTS" set tor1 --port 2200 --virt kvm --notes "moved rack"
    [ "$(sqlite3 -separator '|' "$DB" "SELECT port, virt, notes, city FROM servers WHERE name = 'tor1'")" = "2200|kvm|moved rack|Toronto" ]
    "$HOSTS" set par1 --active yes --rename par2
    [ "$(sqlite3 "$DB" "SELECT name || ':' || active FROM servers WHERE address = '198.51.100.7'")" = "par2:1" ]

    "$HOSTS" retire prg1
    [ "$(sqlite3 "$DB" "SELECT active, retired_at IS NOT NULL FROM servers WHERE name = 'prg1'")" = "0|1" ]
    run "$HOSTS" list --format csv
    [[ "$output" != *prg1* ]]
    run "$HOSTS" list --all --format csv
    [[ "$output" == *prg1* ]]

    run "$HOSTS" list --where "country = 'CA'" --format tsv
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [[ "${lines[1]}" == tor1* ]]
}

@test "bad values are refused with 64 and change nothing" {
    "$HOSTS" add tor1
    run --separate-stderr "$HOSTS" add tor1
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-hosts: server tor1 already exists" ]
    for args in "../evil" "-- -rf" "x --port 0" "x --port 65536" "x --virt hyperv" "x --address -oProxyCommand=sh" "x --log-path relative/log"; do
        # shellcheck disable=SC2086
        run --separate-stderr "$HOSTS" add $args
        [ "$status" -eq 64 ] || { echo "args: $args -> $status $stderr"; false; }
    done
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM servers')" = 1 ]
    run --separate-stderr "$HOSTS" set ghost --port 23
    [ "$status" -eq 66 ]
    [ "$stderr" = "wp-hosts: no server named ghost" ]
}

@test "--where can only read" {
    "$HOSTS" add tor1
    "$HOSTS" add dub1
    before=$(sqlite3 "$DB" .dump)
    for w in "1); DROP TABLE servers; --" \
             "name = 'x' OR (SELECT 1 FROM servers) = 1; DELETE FROM servers" \
             "1) ; UPDATE servers SET port = 1; SELECT (1" \
             "load_extension('/tmp/x.so') IS NULL"; do
        run --separate-stderr "$HOSTS" list --where "$w"
        [ "$status" -eq 64 ] || { echo "where: $w -> $status"; false; }
        [ -z "$output" ]
        [[ "$stderr" == "wp-hosts: --where "* ]]
    done
    [ "$(sqlite3 "$DB" .dump)" = "$before" ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM servers')" = 2 ]
}

@test "a bad CSV row names line and column and imports nothing" {
    "$HOSTS" add tor1
    printf 'name,port,virt\nlon1,22,xen\nams1,22,hyperv\n' > "$T/bad.csv"
    run --separate-stderr "$HOSTS" import "$T/bad.csv"
    [ "$status" -eq 65 ]
    [[ "$stderr" == "wp-hosts: $T/bad.csv:3: column virt: 'hyperv' is not one of"*"nothing imported" ]]
    printf 'name,port\nlon1,22\ntor1,22\n' | { run --separate-stderr "$HOSTS" import -; [ "$status" -eq 65 ]; [[ "$stderr" == *"<stdin>:3: column name: server tor1 already exists"* ]]; }
    [ "$(sqlite3 "$DB" 'SELECT group_concat(name) FROM servers')" = "tor1" ]
    run "$HOSTS" import "$T/absent.csv"
    [ "$status" -eq 66 ]
}

@test "a second writer waits for the first, then succeeds" {
    "$HOSTS" add tor1
    # hold a write transaction for 2 s from another process
    (printf 'BEGIN IMMEDIATE;\nINSERT INTO users(name) VALUES (%s);\n' "'held'"; sleep 2; printf 'COMMIT;\n') | sqlite3 "$DB" &
    holder=$!
    sleep 0.5
    run --separate-stderr "$HOSTS" add dub1
    wait "$holder"
    [ "$status" -eq 0 ]
    [ "$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM servers) || ',' || (SELECT count(*) FROM users)")" = "2,1" ]
}

@test "status shows what later tools record" {
    "$HOSTS" add tor1
    "$HOSTS" add dub1
    sqlite3 "$DB" "INSERT INTO host_status (server_id, last_contact, last_error, last_error_at, consecutive_failures) SELECT id, 1764000000, 'connection refused', 1764003600, 4 FROM servers WHERE name = 'dub1'"
    "$HOSTS" add par1
    sqlite3 "$DB" "INSERT INTO host_status (server_id, last_contact, consecutive_failures, clock_offset_ms, clock_uncertainty_ms, clock_measured_at, last_fetch) SELECT id, 1764007200, 0, 30012, 4, 1764007201, 1764007260 FROM servers WHERE name = 'par1'"
    sqlite3 "$DB" "UPDATE host_status SET clock_offset_ms = -3, clock_uncertainty_ms = 1, clock_measured_at = 1764003600 WHERE server_id = (SELECT id FROM servers WHERE name = 'dub1')"
    run --separate-stderr "$HOSTS" status
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    # scripts get exact milliseconds; columns are only ever added at the end
    [ "${lines[0]}" = "$(printf 'name\tlast_contact\tlast_error\tlast_error_at\tconsecutive_failures\tlast_fetch\tclock_offset_ms\tclock_uncertainty_ms\tclock_measured_at')" ]
    [ "${lines[1]}" = "$(printf 'dub1\t2025-11-24T16:00:00Z\tconnection refused\t2025-11-24T17:00:00Z\t4\t\t-3\t1\t2025-11-24T17:00:00Z')" ]
    [ "${lines[2]}" = "$(printf 'par1\t2025-11-24T18:00:00Z\t\t\t0\t2025-11-24T18:01:00Z\t30012\t4\t2025-11-24T18:00:01Z')" ]
    [ "${lines[3]}" = "$(printf 'tor1\t\t\t\t0\t\t\t\t')" ]
    [ "${#lines[@]}" -eq 4 ]
    # people get signed seconds, the uncertainty rounded up, and the reading's age in days (its
    # second in the day decides: taken before and after, in case a day ends between)
    local before after
    before=$(date +%s)
    run --separate-stderr "$HOSTS" status --format table
    after=$(date +%s)
    [ "$status" -eq 0 ]
    local age_ok=0 t a_dub a_par
    for t in "$before" "$after"; do
        a_dub="$(( (t - 1764003600) / 86400 ))d" a_par="$(( (t - 1764007201) / 86400 ))d"
        [ "$output" = "name  last_contact          last_error          last_error_at         consecutive_failures  last_fetch            clock_offset      clock_measured_at     clock_age
dub1  2025-11-24T16:00:00Z  connection refused  2025-11-24T17:00:00Z                     4                        -0.00 s ±0.01 s   2025-11-24T17:00:00Z       $a_dub
par1  2025-11-24T18:00:00Z                                                               0  2025-11-24T18:01:00Z  +30.01 s ±0.01 s  2025-11-24T18:00:01Z       $a_par
tor1                                                                                     0" ] && age_ok=1
    done
    [ "$age_ok" -eq 1 ] || { echo "$output"; false; }
    run --separate-stderr "$HOSTS" status par1 --format json
    [ "$output" = '{"name":"par1","last_contact":"2025-11-24T18:00:00Z","last_error":null,"last_error_at":null,"consecutive_failures":0,"last_fetch":"2025-11-24T18:01:00Z","clock_offset_ms":30012,"clock_uncertainty_ms":4,"clock_measured_at":"2025-11-24T18:00:01Z"}' ]
}

@test "show: every field of one server, its status and its clock; key: value for people, one row for scripts; unknown name 66" {
    "$HOSTS" add tor1 --address 192.0.2.10 --port 2222 --ssh-user ops --city Toronto --country CA --provider VPSVille \
        --virt xen --log-path /srv/squid/access.log --rotate-cmd 'squid -k rotate' --notes 'rack 4, left' \
        --collector east
    sqlite3 "$DB" "UPDATE servers SET added_at = 1764000000 WHERE name = 'tor1'"
    sqlite3 "$DB" "INSERT INTO host_status (server_id, last_contact, last_error, last_error_at, consecutive_failures, clock_offset_ms, clock_uncertainty_ms, clock_measured_at, last_fetch) SELECT id, 1764007200, 'list /srv/squid: exit status 2', 1764003600, 2, -1500, 250, 1764007201, 1764007260 FROM servers WHERE name = 'tor1'"
    run --separate-stderr "$HOSTS" show tor1 --format table
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$output" = 'name:                 tor1
address:              192.0.2.10
port:                 2222
ssh_user:             ops
city:                 Toronto
country:              CA
provider:             VPSVille
virt:                 xen
active:               yes
log_path:             /srv/squid/access.log
rotate_cmd:           squid -k rotate
notes:                rack 4, left
collector:            east
added_at:             2025-11-24T16:00:00Z
retired_at:
last_contact:         2025-11-24T18:00:00Z
last_fetch:           2025-11-24T18:01:00Z
consecutive_failures: 2
last_error:           list /srv/squid: exit status 2
last_error_at:        2025-11-24T17:00:00Z
clock_offset:         -1.50 s ±0.25 s
clock_measured_at:    2025-11-24T18:00:01Z' ]
    # not on a terminal: TSV, one header and one row, the clock in milliseconds
    run --separate-stderr "$HOSTS" show tor1
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" = "$(printf 'name\taddress\tport\tssh_user\tcity\tcountry\tprovider\tvirt\tactive\tlog_path\trotate_cmd\tnotes\tcollector\tadded_at\tretired_at\tlast_contact\tlast_fetch\tconsecutive_failures\tlast_error\tlast_error_at\tclock_offset_ms\tclock_uncertainty_ms\tclock_measured_at')" ]
    [ "${lines[1]}" = "$(printf 'tor1\t192.0.2.10\t2222\tops\tToronto\tCA\tVPSVille\txen\tyes\t/srv/squid/access.log\tsquid -k rotate\track 4, left\teast\t2025-11-24T16:00:00Z\t\t2025-11-24T18:00:00Z\t2025-11-24T18:01:00Z\t2\tlist /srv/squid: exit status 2\t2025-11-24T17:00:00Z\t-1500\t250\t2025-11-24T18:00:01Z')" ]
    run --separate-stderr "$HOSTS" show tor1 --format json
    [ "$status" -eq 0 ]
    [ "$(python3 -c 'import json, sys; d = json.loads(sys.stdin.read()); print(d["port"], d["active"], d["notes"] == "rack 4, left", d["clock_offset_ms"], d["clock_uncertainty_ms"], d["retired_at"])' <<<"$output")" = "2222 True True -1500 250 None" ]
    # a retired server is shown too; one never contacted has empty status fields
    "$HOSTS" add old1
    "$HOSTS" retire old1
    run --separate-stderr "$HOSTS" show old1 --format csv
    [ "$status" -eq 0 ]
    [[ "${lines[1]}" == "old1,old1,22,,,,,unknown,no,/var/log/squid/access.log,squid -k rotate,,"*"Z,"*"Z,,,0,,,,," ]]
    run --separate-stderr "$HOSTS" show nosuch
    [ "$status" -eq 66 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-hosts: no server named nosuch" ]
}

@test "stdout to a full device fails with 74" {
    [ -w /dev/full ] || skip "no /dev/full"
    "$HOSTS" add tor1
    run --separate-stderr bash -c "'$HOSTS' list > /dev/full"
    [ "$status" -eq 74 ]
    [[ "$stderr" == "wp-hosts: cannot write standard output: No space left on device" ]]
}

@test "--where cannot leave its parentheses to list retired servers; status takes --where too" {
    "$HOSTS" add tor1 --city 'a)b'
    "$HOSTS" add old1
    "$HOSTS" retire old1
    for w in "1) OR (1=1" "1) UNION SELECT * FROM servers --" "(1" "name = 'x" "1 /* open"; do
        run --separate-stderr "$HOSTS" list --where "$w"
        [ "$status" -eq 64 ] || { echo "where: $w -> $status $output"; false; }
        [ -z "$output" ]
        [[ "$stderr" == "wp-hosts: --where '$w' refused: "* ]]
    done
    run --separate-stderr "$HOSTS" list --where "1) OR (1=1"
    [ "$stderr" = "wp-hosts: --where '1) OR (1=1' refused: a ')' without its '(': it must be a single expression" ]
    # parentheses and quotes inside strings, names and comments are the expression's own
    run --separate-stderr "$HOSTS" list --where "(city = 'a)b' OR \"name\" = ')') -- )" --format tsv
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [[ "${lines[1]}" == tor1$'\t'* ]]
    run --separate-stderr "$HOSTS" list --where "servers.name <> ''" --format tsv
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "${lines[@]:1}" | cut -f1)" = "tor1" ]
    run --separate-stderr "$HOSTS" list --all --where "servers.name <> ''" --format tsv
    [ "$(printf '%s\n' "${lines[@]:1}" | cut -f1 | tr '\n' ' ')" = "old1 tor1 " ]

    "$HOSTS" add dub1
    sqlite3 "$DB" "INSERT INTO host_status (server_id, last_contact, last_error, last_error_at, consecutive_failures) SELECT id, NULL, 'connection refused', 1764003600, 4 FROM servers WHERE name IN ('dub1', 'old1')"
    run --separate-stderr "$HOSTS" status --where "name LIKE 'd%' OR name = 'old1'"
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$output" = "$(printf 'name\tlast_contact\tlast_error\tlast_error_at\tconsecutive_failures\tlast_fetch\tclock_offset_ms\tclock_uncertainty_ms\tclock_measured_at\ndub1\t\tconnection refused\t2025-11-24T17:00:00Z\t4\t\t\t\t')" ]
    run --separate-stderr "$HOSTS" status --where "1) OR (1=1"
    [ "$status" -eq 64 ]
    [ -z "$output" ]
}

@test "add takes --active yes|no and set takes --inactive, as the page says" {
    run --separate-stderr "$HOSTS" add y --active no
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    "$HOSTS" add z --active yes
    "$HOSTS" add w --inactive
    "$HOSTS" add x
    run --separate-stderr "$HOSTS" set x --inactive
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    [ "$(sqlite3 "$DB" "SELECT group_concat(name || '=' || active, ' ') FROM (SELECT * FROM servers ORDER BY name)")" = "w=0 x=0 y=0 z=1" ]
    "$HOSTS" set y --active yes
    [ "$(sqlite3 "$DB" "SELECT active FROM servers WHERE name = 'y'")" = 1 ]
    run --separate-stderr "$HOSTS" add v --active maybe
    [ "$status" -eq 64 ]
    [[ "$stderr" == "wp-hosts: "*"'maybe' is not yes or no"* ]]
    run --separate-stderr "$HOSTS" set y --active yes --inactive
    [ "$status" -eq 64 ]
    [[ "$stderr" == "wp-hosts: --"*"excludes --"* ]]
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM servers WHERE name = 'v'") $(sqlite3 "$DB" "SELECT active FROM servers WHERE name = 'y'")" = "0 1" ]
}

@test "a configuration that is a directory is an error naming it, never the default database" {
    mkdir "$T/etc"
    # --db keeps a run that ignored the configuration off the real default database
    run --separate-stderr "$HOSTS" --config "$T/etc" --db "$DB" add tor1
    [ "$status" -eq 78 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-hosts: cannot read configuration $T/etc: Is a directory" ]
    run --separate-stderr env WP_CONFIG="$T/etc" "$HOSTS" --db "$DB" add tor1
    [ "$status" -eq 78 ]
    [ "$stderr" = "wp-hosts: cannot read configuration $T/etc: Is a directory" ]
    [ ! -e "$DB" ]
}

@test "--country takes ISO 3166-1 alpha-2 codes only, in either case, and keeps them upper case" {
    run --separate-stderr "$HOSTS" add tor1 --country Canada
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "wp-hosts: --country: 'Canada' is not an ISO 3166-1 alpha-2 country code (two letters, e.g. CA)" ]
    run --separate-stderr "$HOSTS" add tor1 --country XX
    [ "$status" -eq 64 ]
    [ "$(sqlite3 "$DB" 'SELECT count(*) FROM servers' 2>/dev/null || echo 0)" = 0 ]
    "$HOSTS" add tor1 --country ca
    "$HOSTS" add par1 --country FR
    "$HOSTS" set par1 --country ie
    run --separate-stderr "$HOSTS" set par1 --country 'Ireland'
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "wp-hosts: --country: 'Ireland' is not an ISO 3166-1 alpha-2 country code (two letters, e.g. CA)" ]
    printf 'name,country\nlon1,gb\nams1,Netherlands\n' >"$T/in.csv"
    run --separate-stderr "$HOSTS" import "$T/in.csv"
    [ "$status" -eq 65 ]
    [ "$stderr" = "wp-hosts: $T/in.csv:3: column country: 'Netherlands' is not an ISO 3166-1 alpha-2 country code (two letters, e.g. CA); nothing imported" ]
    printf 'name,country\nlon1,gb\n' >"$T/in.csv"
    "$HOSTS" import "$T/in.csv"
    [ "$(sqlite3 "$DB" "SELECT group_concat(name || '=' || country, ' ') FROM (SELECT * FROM servers ORDER BY name)")" = "lon1=GB par1=IE tor1=CA" ]
    "$HOSTS" set par1 --country ''
    [ "$(sqlite3 "$DB" "SELECT country IS NULL FROM servers WHERE name = 'par1'")" = 1 ]
}

@test "a user who may only read the database lists and reads status; one who may not read it is told so" {
    [ "$(id -u)" -ne 0 ] || command -v setpriv >/dev/null || skip "needs setpriv to drop root"
    "$HOSTS" add tor1 --country CA
    "$HOSTS" add dub1
    "$HOSTS" retire dub1
    chmod 755 "$T"
    chmod 644 "$DB" "$WP_CONFIG"
    as_nobody=()
    [ "$(id -u)" -ne 0 ] || as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    # nobody may not enter the build directory's parents: it runs a copy
    cp "$HOSTS" "$T/wp-hosts"
    chmod 755 "$T/wp-hosts"
    [ ! -e "$DB-shm" ]
    [ ! -e "$DB-wal" ]
    before=$(ls -lA --full-time "$T")
    run --separate-stderr "${as_nobody[@]}" env WP_CONFIG="$WP_CONFIG" "$T/wp-hosts" list --format tsv
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ -z "$stderr" ]
    [ "$(cut -f1,5,8 <<<"$output")" = "$(printf 'name\tcountry\tactive\ntor1\tCA\tyes')" ]
    run --separate-stderr "${as_nobody[@]}" env WP_CONFIG="$WP_CONFIG" "$T/wp-hosts" status --where "name = 'tor1'"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$(cut -f1-5 <<<"$output")" = "$(printf 'name\tlast_contact\tlast_error\tlast_error_at\tconsecutive_failures\ntor1\t\t\t\t0')" ]
    [ "$(ls -lA --full-time "$T")" = "$before" ]
    # wp-runall --list only reads too
    cp "$WP_BIN/wp-runall" "$T/wp-runall"
    chmod 755 "$T/wp-runall"
    before=$(ls -lA --full-time "$T")
    run --separate-stderr "${as_nobody[@]}" env WP_CONFIG="$WP_CONFIG" "$T/wp-runall" --list
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$output" = tor1 ]
    [ "$(ls -lA --full-time "$T")" = "$before" ]
    # a database it may not read: permission denied, naming the file
    chmod 600 "$DB"
    run --separate-stderr "${as_nobody[@]}" env WP_CONFIG="$WP_CONFIG" "$T/wp-hosts" list
    [ "$status" -eq 77 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-hosts: cannot read database $DB: Permission denied" ]
}

@test "an unknown command is named, with the commands there are" {
    run --separate-stderr "$HOSTS" lsit
    [ "$status" -eq 64 ]
    [ -z "$output" ]
    [ "${stderr_lines[0]}" = "wp-hosts: unknown command 'lsit': the commands are list, add, set, retire, import, status, show, check, migrate-db" ]
    run --separate-stderr "$HOSTS" --db "$DB" lsit --all
    [ "$status" -eq 64 ]
    [ "${stderr_lines[0]}" = "wp-hosts: unknown command 'lsit': the commands are list, add, set, retire, import, status, show, check, migrate-db" ]
    run --separate-stderr "$HOSTS" --db "$DB" list --al
    [ "$status" -eq 64 ]
    [[ "${stderr_lines[0]}" != *"unknown command"* ]]
}

@test "a binary file given to import is named in the message whole, its NUL bytes escaped" {
    printf 'na\0me,port\nx,22\n' >"$T/bin.csv"
    run --separate-stderr "$HOSTS" import "$T/bin.csv"
    [ "$status" -eq 65 ]
    [ "$stderr" = "wp-hosts: $T/bin.csv:1: unknown column 'na\\x00me' (column 1)" ]
    printf '\177ELF\2\1\1\0\0\0,x\n' >"$T/elf.csv"
    run --separate-stderr "$HOSTS" import "$T/elf.csv"
    [ "$status" -eq 65 ]
    [ "$stderr" = "wp-hosts: $T/elf.csv:1: unknown column '\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00' (column 1)" ]
}

@test "exit statuses as the page says: a file that is not a database is 65" {
    echo "not a database, only text" >"$T/text.db"
    run --separate-stderr "$HOSTS" --db "$T/text.db" list
    [ "$status" -eq 65 ]
    [ "$stderr" = "wp-hosts: database $T/text.db: file is not a database" ]
    run --separate-stderr "$HOSTS" --db "$T/text.db" add tor1
    [ "$status" -eq 65 ]
    [ "$(cat "$T/text.db")" = "not a database, only text" ]
}

@test "set and retire never create a database; only add and import do" {
    for args in "set tor1 --port 23" "retire tor1" "list" "status"; do
        # shellcheck disable=SC2086
        run --separate-stderr "$HOSTS" --db "$T/typo.db" $args
        [ "$status" -eq 66 ] || { echo "$args -> $status $stderr"; false; }
        [ "$stderr" = "wp-hosts: no database at $T/typo.db: a new installation makes one by adding its first server ('wp-hosts add NAME --address ADDRESS'); else give --db or db = in wp.conf (see wp(7))" ]
        [ ! -e "$T/typo.db" ]
    done
    printf 'name\ntor1\n' | "$HOSTS" --db "$T/new/imported.db" import -
    [ "$(sqlite3 "$T/new/imported.db" 'SELECT name FROM servers')" = tor1 ]
}

@test "list has the same columns with and without --all; JSON has booleans; status --format json" {
    "$HOSTS" add tor1 --country CA
    "$HOSTS" add old1 --inactive
    "$HOSTS" retire old1
    local header
    header=$(printf 'name\taddress\tport\tcity\tcountry\tprovider\tvirt\tactive\tretired_at')
    run --separate-stderr "$HOSTS" list --format tsv
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$header" ]
    [ "${lines[1]}" = "$(printf 'tor1\ttor1\t22\t\tCA\t\tunknown\tyes\t')" ]
    run --separate-stderr "$HOSTS" list --all --format tsv
    [ "${lines[0]}" = "$header" ]
    local retired
    retired=$(sqlite3 "$DB" "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', retired_at, 'unixepoch') FROM servers WHERE name = 'old1'")
    [ "${lines[1]}" = "$(printf 'old1\told1\t22\t\t\t\tunknown\tno\t%s' "$retired")" ]
    run --separate-stderr "$HOSTS" list --all --format json
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "{\"name\":\"old1\",\"address\":\"old1\",\"port\":22,\"city\":null,\"country\":null,\"provider\":null,\"virt\":\"unknown\",\"active\":false,\"retired_at\":\"$retired\"}" ]
    [ "${lines[1]}" = '{"name":"tor1","address":"tor1","port":22,"city":null,"country":"CA","provider":null,"virt":"unknown","active":true,"retired_at":null}' ]
    python3 -c 'import json, sys; [json.loads(l) for l in sys.stdin]' <<<"$output"
    run --separate-stderr "$HOSTS" status --format json
    [ "$status" -eq 0 ]
    [ "$output" = '{"name":"tor1","last_contact":null,"last_error":null,"last_error_at":null,"consecutive_failures":0,"last_fetch":null,"clock_offset_ms":null,"clock_uncertainty_ms":null,"clock_measured_at":null}' ]
}

@test "list selects as the other tools do: ranges, globs, -w, -x, --hosts-file; inactive servers listed too" {
    local h
    for h in tor1 tor2 tor3 tor7 ams01 ams02; do
        "$HOSTS" add "$h"
    done
    "$HOSTS" set tor2 --active no
    "$HOSTS" retire tor7
    names() { cut -f1 <<<"$output" | tail -n +2 | paste -sd' '; }
    run --separate-stderr "$HOSTS" list --format tsv -H 'tor[1-3,7]' -x tor3 # named: retired too
    [ "$status" -eq 0 ]
    [ "$(names)" = "tor1 tor2 tor7" ]
    run --separate-stderr "$HOSTS" list --format tsv -w 'ams*'
    [ "$(names)" = "ams01 ams02" ]
    run --separate-stderr "$HOSTS" list --format tsv -x 'ams[01-02]' # inactive listed, retired not
    [ "$(names)" = "tor1 tor2 tor3" ]
    run --separate-stderr "$HOSTS" list --format tsv --all -x 'ams*'
    [ "$(names)" = "tor1 tor2 tor3 tor7" ]
    printf 'ams[01-02] tor?\n' >"$T/hosts.txt"
    # a glob is a pattern over what list shows by default: the retired tor7 by name or with --all
    run --separate-stderr "$HOSTS" list --format tsv --hosts-file "$T/hosts.txt" --where "name <> 'tor1'"
    [ "$(names)" = "ams01 ams02 tor2 tor3" ]
    run --separate-stderr "$HOSTS" list --format tsv --all -H 'tor?'
    [ "$(names)" = "tor1 tor2 tor3 tor7" ]
    run --separate-stderr "$HOSTS" list -H 'tor[3-1]'
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-hosts: -H: 'tor[3-1]': range 3-1 runs backwards" ]
    run --separate-stderr "$HOSTS" list -H 'tor[1-2],nyc*'
    [ "$status" -eq 66 ]
    [ "$stderr" = "wp-hosts: no server named nyc* in the inventory" ]
}
