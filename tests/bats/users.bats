#!/usr/bin/env bats
# wp-users as an operator runs it, checked with the sqlite3 shell.
bats_require_minimum_version 1.5.0

setup() {
    USERS="$WP_BIN/wp-users"
    T=$(mktemp -d)
    DB="$T/wp.db"
    export WP_CONFIG="$T/wp.conf"
    printf 'db = %s\n' "$DB" > "$WP_CONFIG"
    # The months around now, in UTC: CUR is open, PREV and PREV2 are closed.
    CUR=$(date -u +%Y-%m)
    PREV=$(date -u -d "$CUR-01 -1 month" +%Y-%m)
    PREV2=$(date -u -d "$CUR-01 -2 month" +%Y-%m)
}

teardown() {
    rm -rf "$T"
}

# epoch TIME: the UTC epoch second of TIME as date(1) reads it
epoch() { date -u -d "$1" +%s; }

# seed: a database with server tor1 and usage of alice (PREV2-10 12:00,
# PREV-10 12:00, PREV-20 12:00, CUR-01 00:00) and bob (PREV-20 12:00); carol
# has no usage. Nobody is assigned.
seed() {
    "$USERS" import - </dev/null # an empty import: the schema, nothing else
    sqlite3 "$DB" "INSERT INTO servers(id, name, address, added_at) VALUES (1, 'tor1', '192.0.2.1', 0);
INSERT INTO users(name) VALUES ('alice'), ('bob'), ('carol');
INSERT INTO usage(server_id, user_id, hour, requests, bytes, billed_bytes) VALUES
  (1, 1, $(epoch "$PREV2-10 12:00"), 1, 1000, 2000),
  (1, 1, $(epoch "$PREV-10 12:00"), 2, 300, 300),
  (1, 1, $(epoch "$PREV-20 12:00"), 4, 50000, 90000),
  (1, 1, $(epoch "$CUR-01 00:00"), 8, 7, 14),
  (1, 2, $(epoch "$PREV-20 12:00"), 16, 600, 0);"
}

# history USER: from_hour|account (or -)|set_at>0 of USER's assignments, by from_hour
history() {
    sqlite3 "$DB" "SELECT a.from_hour, coalesce(ac.name, '-'), a.set_at > 0 FROM account_assignments a
        JOIN users u ON u.id = a.user_id LEFT JOIN accounts ac ON ac.id = a.account_id
        WHERE u.name = '$1' ORDER BY a.from_hour"
}

@test "--version and --help go to stdout with status 0; set --help says times are UTC" {
    run --separate-stderr "$USERS" --version
    [ "$status" -eq 0 ]
    [[ "$output" == "wp-users (wp-tools) "* ]]
    [ -z "$stderr" ]
    run --separate-stderr "$USERS" set --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"--amend-closed"* ]]
    [[ "$output" == *"in UTC unless it ends in Z or +HH:MM"* ]]
    [ -z "$stderr" ]
}

@test "set moves a user mid-month; show's history and totals per account match sqlite3" {
    seed
    run --separate-stderr "$USERS" set alice --account acme --from 1970-01-01 --amend-closed
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-users: warning: alice: the invoices of closed months $PREV2, $PREV change (unassigned -> acme); issue them again" ]
    [ -z "$output" ]
    run --separate-stderr "$USERS" set alice --account beta --from "$PREV-15" --amend-closed
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-users: warning: alice: the invoices of closed month $PREV change (acme -> beta); issue them again" ]
    # the current month is open: silent
    run --separate-stderr "$USERS" set alice --account gamma --from "$CUR-01T00:00:00Z"
    [ "$status" -eq 0 ]
    [ -z "$stderr$output" ]
    mid=$(epoch "$PREV-15")
    cur=$(epoch "$CUR-01")
    [ "$(history alice)" = "0|acme|1
$mid|beta|1
$cur|gamma|1" ]

    # the oracle: usage hours split at the assignments' hours, by sqlite3
    acme=$(sqlite3 -separator $'\t' "$DB" "SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage WHERE user_id = 1 AND hour < $mid")
    beta=$(sqlite3 -separator $'\t' "$DB" "SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage WHERE user_id = 1 AND hour >= $mid AND hour < $cur")
    gamma=$(sqlite3 -separator $'\t' "$DB" "SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage WHERE user_id = 1 AND hour >= $cur")
    [ "$acme" = $'3\t1300\t2300' ]
    [ "$beta" = $'4\t50000\t90000' ]
    [ "$gamma" = $'8\t7\t14' ]
    set_at() { sqlite3 "$DB" "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', set_at, 'unixepoch') FROM account_assignments WHERE user_id = 1 AND from_hour = $1"; }
    run --separate-stderr "$USERS" show alice
    [ "$status" -eq 0 ]
    [ "$output" = "user	account	first_seen	last_seen	requests	bytes	billed_bytes
alice	gamma	$PREV2-10T12:00:00Z	$CUR-01T00:00:00Z	15	51307	92314

from	account	set_at
1970-01-01T00:00:00Z	acme	$(set_at 0)
$PREV-15T00:00:00Z	beta	$(set_at "$mid")
$CUR-01T00:00:00Z	gamma	$(set_at "$cur")

account	requests	bytes	billed_bytes
acme	$acme
beta	$beta
gamma	$gamma" ]
}

@test "setting what already holds writes nothing; the same hour again replaces; -v says what changed" {
    seed
    "$USERS" set bob --account acme --from "$CUR-01"
    before=$(sqlite3 "$DB" 'SELECT * FROM account_assignments')
    sleep 1
    run --separate-stderr "$USERS" -v set bob --account acme --from "$CUR-01"
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-users: bob: acme from $CUR-01T00:00:00Z already, nothing changed" ]
    [ "$(sqlite3 "$DB" 'SELECT * FROM account_assignments')" = "$before" ]
    run --separate-stderr "$USERS" -v set bob --unassign --from "$CUR-01T00"
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-users: bob: unassigned from $CUR-01T00:00:00Z (was acme, replaced)" ]
    [ "$(history bob)" = "$(epoch "$CUR-01")|-|1" ]
    # a user never seen is added, and so is the account
    run --separate-stderr "$USERS" -v set dave --account newco
    [ "$status" -eq 0 ]
    [[ "$stderr" == "wp-users: dave: newco from "*":00:00Z (was unassigned, new user, new account)" ]]
    [ "$(sqlite3 "$DB" "SELECT from_hour = CAST(strftime('%s', 'now') AS INTEGER) / 3600 * 3600 FROM account_assignments WHERE user_id = (SELECT id FROM users WHERE name = 'dave')")" = 1 ]
}

@test "a closed month is refused with 65 naming it and the way out, and nothing changes" {
    seed
    before=$(sqlite3 "$DB" .dump)
    run --separate-stderr "$USERS" set bob --account acme --from "$PREV-20T12"
    [ "$status" -eq 65 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-users: bob: from $PREV-20T12:00:00Z would change the invoices of closed month $PREV (UTC), where the user has usage; give --amend-closed to change them anyway" ]
    # bob has no usage in PREV2: only PREV's invoices would change
    run --separate-stderr "$USERS" set bob --account acme --from "$PREV2-01"
    [ "$status" -eq 65 ]
    [[ "$stderr" == *"would change the invoices of closed month $PREV (UTC), where"* ]]
    [ "$(sqlite3 "$DB" .dump)" = "$before" ]
    # bob has no usage in PREV2: only PREV's invoices change
    run --separate-stderr "$USERS" set bob --account acme --from "$PREV2-01" --amend-closed
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-users: warning: bob: the invoices of closed month $PREV change (unassigned -> acme); issue them again" ]
}

@test "bad times, account names and missing choices are refused with 64 and create nothing" {
    run --separate-stderr "$USERS" set alice --account acme --from "$CUR-01T10:30"
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-users: --from: '$CUR-01T10:30' is $CUR-01T10:30:00Z UTC, not on a whole hour (usage is kept per hour)" ]
    run --separate-stderr "$USERS" set alice --account acme --from "next tuesday"
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-users: --from: 'next tuesday' is not a time: YYYY-MM-DD or YYYY-MM-DDTHH[:MM[:SS]], UTC unless followed by Z or +HH:MM/-HH:MM" ]
    run --separate-stderr "$USERS" set alice --account 'acme corp'
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-users: --account: 'acme corp' is not an account name: letters, digits and . _ @ + -, starting with a letter or digit" ]
    run --separate-stderr "$USERS" set alice
    [ "$status" -eq 64 ]
    [ "${stderr%%$'\n'*}" = "wp-users: set: give --account ACCOUNT or --unassign" ]
    [ ! -e "$DB" ]
}

@test "import: every bad row named as file:line: column: why, exit 65, nothing written" {
    seed
    "$USERS" set bob --account zeta --from "$CUR-01"
    before=$(sqlite3 "$DB" .dump)
    printf '%s\n' 'user,account,from' 'alice,acme' ',acme' 'frank,bad name!' "gina,acme,$CUR-01T10:30" 'hank' \
        "alice,zeta,$CUR-02" "alice,acme,$CUR-02T00:00Z" "bob,acme,$PREV-20" 'ivan,acme,2026-02-30' > "$T/bad.csv"
    run --separate-stderr "$USERS" import "$T/bad.csv"
    [ "$status" -eq 65 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-users: $T/bad.csv:3: user: a user name cannot be empty
wp-users: $T/bad.csv:4: account: 'bad name!' is not an account name: letters, digits and . _ @ + -, starting with a letter or digit
wp-users: $T/bad.csv:5: from: '$CUR-01T10:30' is $CUR-01T10:30:00Z UTC, not on a whole hour (usage is kept per hour)
wp-users: $T/bad.csv:6: row: 1 field, expected user,account[,from]
wp-users: $T/bad.csv:8: from: line 7 already assigns this user from $CUR-02T00:00:00Z
wp-users: $T/bad.csv:9: from: from $PREV-20T00:00:00Z would change the invoices of closed month $PREV (UTC), where the user has usage; give --amend-closed to change them anyway
wp-users: $T/bad.csv:10: from: '2026-02-30' is not a time: YYYY-MM-DD or YYYY-MM-DDTHH[:MM[:SS]], UTC unless followed by Z or +HH:MM/-HH:MM
wp-users: $T/bad.csv: 7 bad rows; nothing imported" ]
    [ "$(sqlite3 "$DB" .dump)" = "$before" ]
    run --separate-stderr "$USERS" import "$T/absent.csv"
    [ "$status" -eq 66 ]
}

@test "import: quoted fields, CRLF, stdin, empty account unassigns, default from is this hour, --amend-closed" {
    seed
    printf 'user,account,from\r\n"smith, j ""js""",acme,%s\r\n"bob",,%s\r\nalice,zeta\r\n' "$CUR-01T00" "$CUR-01" |
        { run --separate-stderr "$USERS" import -; [ "$status" -eq 0 ]; [ -z "$stderr$output" ]; }
    [ "$(sqlite3 -separator '|' "$DB" "SELECT u.name, a.from_hour, coalesce(ac.name, '-') FROM account_assignments a
        JOIN users u ON u.id = a.user_id LEFT JOIN accounts ac ON ac.id = a.account_id ORDER BY u.name")" = \
"alice|$(( $(date -u +%s) / 3600 * 3600 ))|zeta
smith, j \"js\"|$(epoch "$CUR-01")|acme" ]
    # bob's unassignment held already: no row
    printf 'bob,acme,%s\n' "$PREV-01" > "$T/closed.csv"
    run --separate-stderr "$USERS" import --amend-closed "$T/closed.csv"
    [ "$status" -eq 0 ]
    [ "$stderr" = "wp-users: warning: $T/closed.csv:1: bob: the invoices of closed month $PREV change (unassigned -> acme); issue them again" ]
}

@test "list and accounts in TSV and JSON, exactly" {
    seed
    "$USERS" set alice --account acme --from 1970-01-01 --amend-closed 2>/dev/null
    "$USERS" set bob --account zeta --from "$CUR-01"
    "$USERS" set dave --account acme
    "$USERS" quota acme 500GB
    tot() { sqlite3 -separator "$2" "$DB" "SELECT sum(requests), sum(bytes), sum(billed_bytes) FROM usage WHERE user_id = (SELECT id FROM users WHERE name = '$1')"; }
    run --separate-stderr "$USERS" list
    [ "$status" -eq 0 ]
    [ "$output" = "user	account	first_seen	last_seen	requests	bytes	billed_bytes
alice	acme	$PREV2-10T12:00:00Z	$CUR-01T00:00:00Z	$(tot alice $'\t')
bob	zeta	$PREV-20T12:00:00Z	$PREV-20T12:00:00Z	$(tot bob $'\t')
carol				0	0	0
dave	acme			0	0	0" ]
    run --separate-stderr "$USERS" list --names
    [ "$status" -eq 0 ] && [ "$output" = "$(printf '%s\n' alice bob carol dave)" ]
    run --separate-stderr "$USERS" list --names --format tsv
    [ "$status" -eq 64 ]
    IFS=, read -r r b bb <<<"$(tot alice ,)"
    run --separate-stderr "$USERS" list --format json
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "{\"user\":\"alice\",\"account\":\"acme\",\"first_seen\":\"$PREV2-10T12:00:00Z\",\"last_seen\":\"$CUR-01T00:00:00Z\",\"requests\":$r,\"bytes\":$b,\"billed_bytes\":$bb}" ]
    [ "${lines[2]}" = '{"user":"carol","account":null,"first_seen":null,"last_seen":null,"requests":0,"bytes":0,"billed_bytes":0}' ]
    run --separate-stderr "$USERS" accounts
    [ "$status" -eq 0 ]
    [ "$output" = "account	quota_bytes	users
acme	500000000000	alice,dave
zeta		bob" ]
    run --separate-stderr "$USERS" accounts --format json
    [ "$output" = '{"account":"acme","quota_bytes":500000000000,"users":"alice,dave"}
{"account":"zeta","quota_bytes":null,"users":"bob"}' ]
    run --separate-stderr "$USERS" accounts --format csv
    [ "$output" = 'account,quota_bytes,users
acme,500000000000,"alice,dave"
zeta,,bob' ]
}

@test "quota: sizes as the page says, none clears, bad sizes 64, unknown accounts 66" {
    seed
    "$USERS" set alice --account acme
    for pair in "500GB 500000000000" "1.5TiB 1649267441664" "750 MiB 786432000" "12345 12345" "2kb 2000"; do
        "$USERS" quota acme "${pair% *}"
        [ "$(sqlite3 "$DB" "SELECT quota_bytes FROM accounts WHERE name = 'acme'")" = "${pair##* }" ] || { echo "$pair"; false; }
    done
    run --separate-stderr "$USERS" quota acme 750G
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-users: quota: '750G' is not a size: 'G' alone is ambiguous: write 750GB for powers of 1000 or 750GiB for powers of 1024" ]
    run --separate-stderr "$USERS" quota acme lots
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-users: quota: 'lots' is not a size: expected a number and B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB" ]
    run --separate-stderr "$USERS" quota acme 0
    [ "$status" -eq 64 ]
    [ "$(sqlite3 "$DB" "SELECT quota_bytes FROM accounts WHERE name = 'acme'")" = 2000 ]
    run --separate-stderr "$USERS" quota acme none
    [ "$status" -eq 0 ]
    [ -z "$stderr$output" ]
    [ "$(sqlite3 "$DB" "SELECT quota_bytes IS NULL FROM accounts WHERE name = 'acme'")" = 1 ]
    run --separate-stderr "$USERS" quota nobody 5GB
    [ "$status" -eq 66 ]
    [ "$stderr" = "wp-users: no account named nobody" ]
}

@test "an unknown user is 66; a missing database is 66 for the readers" {
    run --separate-stderr "$USERS" list
    [ "$status" -eq 66 ]
    seed
    run --separate-stderr "$USERS" show nobody
    [ "$status" -eq 66 ]
    [ -z "$output" ]
    [ "$stderr" = "wp-users: no user named nobody" ]
}

@test "hostile user names reach neither a shell nor a terminal raw" {
    seed
    evil=$'$(touch '"$T"$'/pwned);rm -rf /\e[2J\nx'
    sqlite3 "$DB" "INSERT INTO users(name) VALUES (char(36,40,116,111,117,99,104,32) || '$T/pwned);rm -rf /' || char(27) || '[2J' || char(10) || 'x')"
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM users WHERE name = CAST(x'$(printf '%s' "$evil" | od -An -tx1 | tr -d ' \n')' AS TEXT)")" = 1 ]
    run --separate-stderr "$USERS" set "$evil" --account acme
    [ "$status" -eq 0 ]
    run --separate-stderr "$USERS" set '../../etc/passwd' --account acme
    [ "$status" -eq 0 ]
    [ ! -e "$T/pwned" ]
    run --separate-stderr "$USERS" list --format table
    [ "$status" -eq 0 ]
    [[ "$output" == *'$(touch '"$T"'/pwned);rm -rf /\x1b[2J\x0ax  acme'* ]]
    [[ "$output" != *$'\e'* ]]
    run --separate-stderr "$USERS" list --format tsv
    [[ "$output" == *'$(touch '"$T"$'/pwned);rm -rf /\e[2J\\nx\tacme'* ]]
    run --separate-stderr "$USERS" list --format json
    [[ "$output" == *'"user":"$(touch '"$T"'/pwned);rm -rf /\u001b[2J\nx","account":"acme"'* ]]
    run --separate-stderr "$USERS" show "$evil" --format json
    [ "$status" -eq 0 ]
    run --separate-stderr "$USERS" show "$evil"$'\a'
    [ "$status" -eq 66 ]
    [ "$stderr" = 'wp-users: no user named $(touch '"$T"'/pwned);rm -rf /\x1b[2J\x0ax\x07' ]
    [ ! -e "$T/pwned" ]
    [ "$(sqlite3 "$DB" "SELECT name FROM users WHERE name LIKE '../%'")" = "../../etc/passwd" ]
}
