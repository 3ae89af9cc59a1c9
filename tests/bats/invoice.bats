#!/usr/bin/env bats
# wp-rollup invoice and quota as an operator runs them. Oracles: sqlite3's
# own sums, tests/tools/invoice-oracle (Python: zoneinfo days, assignments
# resolved row by row), python3's csv, json and html.parser, headless
# Chromium with poppler's pdftotext and pdfinfo for the printed page.
bats_require_minimum_version 1.5.0
load site

setup() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    ROLLUP=$BIN/wp-rollup
    HOSTS=$BIN/wp-hosts
    ORACLE=$SRC/tests/tools/invoice-oracle
    T=$(mktemp -d "${TMPDIR:-/tmp}/wp-invoice-bats.XXXXXX")
    export WP_CONFIG=$T/wp.conf
    printf 'db = %s\n' "$T/wp.db" >"$WP_CONFIG"
    DB=$T/wp.db
    THIS_MONTH=$(date -u +%Y-%m)
}

teardown() {
    rm -rf "$T"
}

# October 2026, hour by hour: 3 servers (one without a country), users on
# acme (one named with HTML's special characters), bob moved to zeta on the
# 15th at 00:00 UTC, carol never assigned; classes cache x1, origin x2,
# free x0; an 'unsplit' row and a usage row without class rows; an account
# 'empty' with no user; a row in September and one in November.
fill_month() {
    "$HOSTS" add tor1 --country CA
    "$HOSTS" add lon1 --country GB
    "$HOSTS" add nowhere
    sqlite3 "$DB" <<'SQL'
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), (3, 'carol'), (4, 'dave'), (5, '<b>&"x''');
INSERT INTO accounts(id, name, added_at) VALUES (1, 'acme', 0), (2, 'zeta', 0), (3, 'empty', 0);
INSERT INTO billing_classes(id, name, factor) VALUES (2, 'cache', 1), (3, 'origin', 2), (4, 'free', 0);
INSERT INTO account_assignments VALUES (1, 0, 1, 0), (2, 0, 1, 0), (2, 1792022400, 2, 0), (4, 0, 2, 0), (5, 0, 1, 0);
WITH RECURSIVE h(t) AS (SELECT 1790812800 UNION ALL SELECT t + 3600 FROM h WHERE t < 1793491200 - 3600)
INSERT INTO usage_classes
SELECT s.id, u.id, h.t, c.id, 1 + (h.t / 3600 + u.id) % 3, 1000 * s.id + u.id * (h.t % 86400) / 36 + c.id * 17,
       (1000 * s.id + u.id * (h.t % 86400) / 36 + c.id * 17) * c.factor
FROM h, servers s, users u, billing_classes c
WHERE c.factor IS NOT NULL AND (h.t / 3600 + s.id + u.id + c.id) % 4 = 0;
INSERT INTO usage_classes VALUES (1, 1, 1790812800 + 2 * 86400 + 7200, 1, 4, 300, 450);
INSERT INTO usage_classes VALUES (1, 1, 1790812800 - 3600, 2, 9, 9999, 9999), (1, 1, 1793491200, 2, 9, 8888, 8888);
INSERT INTO usage SELECT server_id, user_id, hour, sum(requests), sum(bytes), sum(billed_bytes)
FROM usage_classes GROUP BY 1, 2, 3;
INSERT INTO usage VALUES (2, 1, 1790812800 + 5 * 86400 + 3600, 1, 20, 40) ON CONFLICT DO UPDATE
  SET requests = requests + 1, bytes = bytes + 20, billed_bytes = billed_bytes + 40;
SQL
}

# sqlite3's billed total of an account's (or, with '', the unassigned users')
# hours of October 2026 in UTC.
billed_of() {
    local acc="(SELECT id FROM accounts WHERE name = '$1')"
    [ -z "$1" ] && acc=NULL
    sqlite3 "$DB" "SELECT sum(g.billed_bytes) FROM usage g WHERE g.hour >= 1790812800 AND g.hour < 1793491200
        AND (SELECT a.account_id FROM account_assignments a WHERE a.user_id = g.user_id AND a.from_hour <= g.hour
             ORDER BY a.from_hour DESC LIMIT 1) IS $acc"
}

# Chromium's flags for a throwaway profile (no sandbox as root).
chromium_run() {
    local sandbox=()
    [ "$(id -u)" -eq 0 ] && sandbox=(--no-sandbox)
    timeout 120 chromium --headless "${sandbox[@]}" --disable-gpu --user-data-dir="$T/chromium" "$@" 2>"$T/chromium.err"
}

need_chromium() {
    if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then
        if [ "${CI:-}" = true ]; then
            echo "chromium and poppler-utils must be installed under CI (make -f Makefile.dist deps)" >&2
            return 1
        fi
        skip "chromium or poppler-utils is not installed"
    fi
}

@test "invoice --format tsv: every account's, the unassigned users' and the empty account's equal the oracle, in UTC, Toronto and Kolkata" {
    fill_month
    for zone in UTC America/Toronto Asia/Kolkata; do
        for acc in acme zeta empty ''; do
            if [ -n "$acc" ]; then
                run --separate-stderr "$ROLLUP" invoice --tz "$zone" --account "$acc" --month 2026-10 --format tsv
            else
                run --separate-stderr "$ROLLUP" invoice --tz "$zone" --unassigned --month 2026-10 --format tsv
            fi
            [ "$status" -eq 0 ]
            [ -z "$stderr" ]
            printf '%s\n' "$output" >"$T/got"
            "$ORACLE" "$DB" "$acc" 2026-10 "$zone" >"$T/expect"
            diff "$T/expect" "$T/got"
        done
    done
    # the statements' totals are sqlite3's, and together all of October's usage
    local sum=0 acc
    for acc in acme zeta ''; do
        [ -n "$acc" ] && set -- --account "$acc" || set -- --unassigned
        got=$("$ROLLUP" invoice "$@" --month 2026-10 --format tsv | awk -F'\t' '$4 == "total" && $6 == "all" { print $9 }')
        [ "$got" = "$(billed_of "$acc")" ]
        sum=$((sum + got))
    done
    [ "$sum" -eq "$(sqlite3 "$DB" 'SELECT sum(billed_bytes) FROM usage WHERE hour >= 1790812800 AND hour < 1793491200')" ]
    # acme has the unsplit rows, zeta none; bob is on both
    "$ROLLUP" invoice --account acme --month 2026-10 --format tsv | grep -q $'\tunsplit\t'
    [ "$("$ROLLUP" invoice --account zeta --month 2026-10 --format tsv | grep -c $'\tunsplit\t')" -eq 0 ]
    "$ROLLUP" invoice --account acme --month 2026-10 --format tsv | grep -q $'\tuser\tbob\tall\t'
    "$ROLLUP" invoice --account zeta --month 2026-10 --format tsv | grep -q $'\tuser\tbob\tall\t'
}

@test "invoice: every class row of every line sums to its line, and bytes x factor is billed" {
    fill_month
    "$ROLLUP" invoice --account acme --month 2026-10 --format tsv >"$T/s.tsv"
    awk -F'\t' -v OFS='\t' '
        NR == 1 { next }
        { key = $4 SUBSEP $5 }
        $6 == "all" { all[key] = $7 " " $8 " " $9; next }
        { r[key] += $7; b[key] += $8; bb[key] += $9 }
        $6 == "cache" && $9 != $8 { print "cache", $0; bad = 1 }
        $6 == "origin" && $9 != 2 * $8 { print "origin", $0; bad = 1 }
        $6 == "free" && $9 != 0 { print "free", $0; bad = 1 }
        END {
            for (k in all) if (all[k] != r[k] " " b[k] " " bb[k]) { print "sum", k; bad = 1 }
            exit bad
        }' "$T/s.tsv"
}

@test "invoice --format csv and json: the same figures, read back by python3's csv and json" {
    fill_month
    "$ROLLUP" invoice --account acme --month 2026-10 --format tsv >"$T/s.tsv"
    "$ROLLUP" invoice --account acme --month 2026-10 --format csv >"$T/s.csv"
    "$ROLLUP" invoice --account acme --month 2026-10 --format json >"$T/s.json"
    python3 - "$T/s.tsv" "$T/s.csv" "$T/s.json" <<'PY'
import csv, json, sys
tsv = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
rows = list(csv.reader(open(sys.argv[2], newline="")))
assert rows == tsv, "csv differs from tsv"
head, body = tsv[0], tsv[1:]
doc = json.load(open(sys.argv[3]))
assert doc["account"] == "acme" and doc["month"] == "2026-10" and doc["zone"] == "UTC"
assert doc["first_day"] == "2026-10-01" and doc["last_day"] == "2026-10-31"
assert [c["name"] for c in doc["classes"]] == ["cache", "origin", "free", "unsplit"]
assert [c["factor"] for c in doc["classes"]] == [1, 2, 0, None]
from_json = []
for section, items, key in (("user", doc["users"], "user"), ("server", doc["servers"], "server"),
                            ("country", doc["countries"], "country"), ("day", doc["days"], "day"),
                            ("total", [dict(doc["total"], total="total")], "total")):
    for it in items:
        k = it[key] if it[key] is not None else ""
        for name, c in it["classes"].items():
            from_json.append(["acme", "2026-10", "UTC", section, k, name, str(c["requests"]), str(c["bytes"]), str(c["billed_bytes"])])
        from_json.append(["acme", "2026-10", "UTC", section, k, "all", str(it["requests"]), str(it["bytes"]), str(it["billed_bytes"])])
        for v in (it["requests"], it["bytes"], it["billed_bytes"]):
            assert isinstance(v, int)
assert from_json == body, "json differs from tsv"
assert doc["users"][0]["user"] == '<b>&"x\''
assert doc["servers"][1] ["country"] is None
PY
}

@test "invoice --format table: the statement a person reads, exactly" {
    "$HOSTS" add tor1 --country CA
    sqlite3 "$DB" <<'SQL'
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob');
INSERT INTO accounts(id, name, added_at) VALUES (1, 'acme', 0);
INSERT INTO billing_classes(id, name, factor) VALUES (2, 'cache', 1), (3, 'origin', 2);
INSERT INTO account_assignments VALUES (1, 0, 1, 0), (2, 1792022400, 1, 0);
INSERT INTO usage_classes VALUES (1, 1, 1790812800, 2, 3, 1536, 1536), (1, 1, 1790812800, 3, 1, 2097152, 4194304),
  (1, 2, 1792022400, 2, 2, 1000, 1000), (1, 1, 1790812800 + 86400, 1, 1, 100, 150);
INSERT INTO usage SELECT server_id, user_id, hour, sum(requests), sum(bytes), sum(billed_bytes)
FROM usage_classes GROUP BY 1, 2, 3;
SQL
    run --separate-stderr "$ROLLUP" invoice --account acme --month 2026-10 --format table
    [ "$status" -eq 0 ]
    [ -z "$stderr" ]
    # the figures: sqlite3's
    [ "$(sqlite3 "$DB" 'SELECT sum(billed_bytes) FROM usage')" -eq 4196990 ]
    printf '%s\n' "$output" | head -n 15 >"$T/got"
    cat >"$T/expect" <<'EOF'
Statement  acme
Period     2026-10-01 to 2026-10-31 (UTC)
Billed     4.0 MiB (4196990 bytes)
Classes    cache x1, origin x2, unsplit (split unknown)
Units      IEC units: 1 KiB = 1024 bytes, 1 MiB = 1024 KiB, 1 GiB = 1024 MiB

user   requests    cache   origin  unsplit   billed
alice         5  1.5 KiB  2.0 MiB    100 B  4.0 MiB
bob           2   1000 B      0 B      0 B   1000 B
total         7  2.5 KiB  2.0 MiB    100 B  4.0 MiB

server  country  requests    cache   origin  unsplit   billed
tor1    CA              7  2.5 KiB  2.0 MiB    100 B  4.0 MiB

country  requests    cache   origin  unsplit   billed
EOF
    diff "$T/expect" "$T/got"
    printf '%s\n' "$output" | grep -qx '2026-10-15         2   1000 B      0 B      0 B   1000 B'
    [ "$(printf '%s\n' "$output" | grep -c '^2026-10-')" -eq 31 ]
    run "$ROLLUP" invoice --account acme --month 2026-10 --format table --si
    printf '%s\n' "$output" | grep -qx 'Billed     4.2 MB (4196990 bytes)'
}

@test "invoice --format html: one self-contained page, every tag closed, names escaped, no script, no URL" {
    fill_month
    run --separate-stderr "$ROLLUP" invoice --account acme --month 2026-10 -o "$T/acme.html"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
    python3 - "$T/acme.html" <<'PY'
import sys
from html.parser import HTMLParser
VOID = {"meta", "br", "hr", "img", "link", "input", "col", "wbr", "area", "base", "source"}
SVG_EMPTY = {"rect", "line", "path", "circle", "polyline"}
class Strict(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.seen = [], [], set()
    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))
    def handle_startendtag(self, tag, attrs):
        self.seen.add(tag)
        if tag not in VOID and tag not in SVG_EMPTY:
            self.errors.append(f"{self.getpos()}: <{tag}/> is no void element")
    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"{self.getpos()}: </{tag}> closes a void element")
        elif not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"{self.getpos()}: </{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()
    def handle_decl(self, decl):
        self.decl = decl
text = open(sys.argv[1], encoding="utf-8").read()
p = Strict()
p.feed(text)
p.close()
errors = p.errors + [f"<{t}> at {pos} never closed" for t, pos in p.stack]
assert not errors, errors
assert getattr(p, "decl", "") == "DOCTYPE html"
assert {"html", "head", "meta", "title", "style", "body", "svg", "rect", "table"} <= p.seen, p.seen
assert "script" not in p.seen
assert "&lt;b&gt;&amp;&quot;x&#39;" in text and "<b>" not in text
PY
    run grep -Eic '<script|https?:|//|url\(|@import|@font-face|src=|href=' "$T/acme.html"
    [ "$output" = 0 ]
    grep -q '@page { size: A4;' "$T/acme.html"
}

@test "invoice: a user name of bytes no UTF-8 has (decoded from %FF%FE) and a C1 control still make valid JSON and HTML" {
    fill_month
    sqlite3 "$DB" "INSERT INTO users(id, name) VALUES (6, CAST(X'626164FFFE6E616D65' AS TEXT)), (7, CAST(X'6E656CC285' AS TEXT));
        INSERT INTO account_assignments VALUES (6, 0, 1, 0), (7, 0, 1, 0);
        INSERT INTO usage_classes VALUES (1, 6, 1791000000 - 1791000000 % 3600, 2, 1, 10, 10), (1, 7, 1791000000 - 1791000000 % 3600, 2, 1, 5, 5);
        INSERT INTO usage VALUES (1, 6, 1791000000 - 1791000000 % 3600, 1, 10, 10), (1, 7, 1791000000 - 1791000000 % 3600, 1, 5, 5);"
    "$ROLLUP" invoice --account acme --month 2026-10 --format json >"$T/acme.json"
    "$ROLLUP" invoice --account acme --month 2026-10 --format html >"$T/acme.html"
    python3 - "$T/acme.json" "$T/acme.html" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))  # strict UTF-8, strict JSON
users = [u["user"] for u in doc["users"]]
assert "bad\ufffd\ufffdname" in users and "nel\u0085" in users, users
html = open(sys.argv[2], encoding="utf-8").read()
assert "bad\ufffd\ufffdname" in html and "nel\ufffd" in html and "\u0085" not in html
PY
}

@test "invoice --format html in headless Chromium: a PDF of at most 2 A4 pages with the account, period and exact total, and a PNG" {
    need_chromium
    fill_month
    "$ROLLUP" invoice --account acme --month 2026-10 --format html -o "$T/acme.html"
    chromium_run --no-pdf-header-footer --print-to-pdf="$T/acme.pdf" "file://$T/acme.html"
    chromium_run --hide-scrollbars --window-size=1000,1400 --screenshot="$T/acme.png" "file://$T/acme.html"
    pages=$(pdfinfo "$T/acme.pdf" | awk '/^Pages:/ { print $2 }')
    echo "# acme's statement prints on $pages pages" >&3
    [ "$pages" -ge 1 ]
    [ "$pages" -le 2 ]
    pdfinfo "$T/acme.pdf" | grep -q '^Page size: .*(A4)'
    pdftotext -layout "$T/acme.pdf" "$T/acme.txt"
    total=$(billed_of acme)
    grep -q 'acme' "$T/acme.txt"
    grep -q '2026-10-01 to 2026-10-31 (UTC)' "$T/acme.txt"
    grep -q "($total bytes)" "$T/acme.txt"
    # the screenshot is a PNG of the window's size
    python3 - "$T/acme.png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1000, 1400), (w, h)
assert len(data) > 20000
PY
    # the unassigned users' statement prints too
    "$ROLLUP" invoice --unassigned --month 2026-10 --format html -o "$T/u.html"
    chromium_run --no-pdf-header-footer --print-to-pdf="$T/u.pdf" "file://$T/u.html"
    [ "$(pdfinfo "$T/u.pdf" | awk '/^Pages:/ { print $2 }')" -le 2 ]
    pdftotext -layout "$T/u.pdf" - | grep -q "unassigned users"
    pdftotext -layout "$T/u.pdf" - | grep -q "($(billed_of '') bytes)"
}

@test "invoice --all-accounts --outdir: one statement per account and one for the unassigned users, atomic and silent" {
    fill_month
    run --separate-stderr "$ROLLUP" invoice --all-accounts --month 2026-10 --outdir "$T/out"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -z "$stderr" ]
    [ "$(ls -A "$T/out" | tr '\n' ' ')" = "_unassigned-2026-10.html acme-2026-10.html empty-2026-10.html zeta-2026-10.html " ]
    "$ROLLUP" invoice --account zeta --month 2026-10 --format html >"$T/zeta.html"
    cmp "$T/zeta.html" "$T/out/zeta-2026-10.html"
    run --separate-stderr "$ROLLUP" invoice --all-accounts --month 2026-10 --outdir "$T/tsv" --format tsv
    [ "$status" -eq 0 ]
    "$ORACLE" "$DB" acme 2026-10 UTC | cmp - "$T/tsv/acme-2026-10.tsv"
    "$ORACLE" "$DB" '' 2026-10 UTC | cmp - "$T/tsv/_unassigned-2026-10.tsv"
    # a month without unassigned usage has no such file
    "$ROLLUP" invoice --all-accounts --month 2026-08 --outdir "$T/aug" --format json
    [ "$(ls -A "$T/aug" | tr '\n' ' ')" = "acme-2026-08.json empty-2026-08.json zeta-2026-08.json " ]
    # -o picks the format by the file's name; nothing but the file is left
    run --separate-stderr "$ROLLUP" invoice --account acme --month 2026-10 -o "$T/o/acme.json"
    [ "$status" -eq 73 ]
    [[ "$stderr" == "wp-rollup: "*"$T/o/acme.json"* ]]
    mkdir "$T/o"
    "$ROLLUP" invoice --account acme --month 2026-10 -o "$T/o/acme.json"
    "$ROLLUP" invoice --account acme --month 2026-10 --format json | cmp - "$T/o/acme.json"
    [ "$(ls -A "$T/o")" = acme.json ]
}

@test "invoice: bad input is one line on stderr and the documented status" {
    fill_month
    expect_error() { # STATUS MESSAGE ARGS...
        local want=$1 message=$2
        shift 2
        run --separate-stderr "$ROLLUP" invoice "$@"
        [ "$status" -eq "$want" ] || { echo "status $status for $*: $stderr"; return 1; }
        [ -z "$output" ]
        [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
        [[ "$stderr" == "wp-rollup: "$message ]] || { echo "got: $stderr"; return 1; }
    }
    expect_error 66 "no account 'nobody' in database $DB" --account nobody --month 2026-10
    expect_error 65 "month $THIS_MONTH is not closed yet (ends at the start of *-01 in UTC, *T00:00:00Z)" \
        --account acme --month "$THIS_MONTH"
    expect_error 65 "month 2031-01 is not closed yet (ends at the start of 2031-02-01 in UTC, 2031-02-01T00:00:00Z)" \
        --account acme --month 2031-01
    expect_error 65 "month 2031-01 is not closed yet (ends at the start of 2031-02-01 in America/Toronto, 2031-02-01T05:00:00Z)" \
        --account acme --month 2031-01 --tz America/Toronto
    expect_error 64 "--month: '2026-13' is not a month (YYYY-MM, 1970-01 or later)" --account acme --month 2026-13
    expect_error 64 "--month: 'october' is not a month (YYYY-MM, 1970-01 or later)" --account acme --month october
    expect_error 64 "give one of --account ACCOUNT, --unassigned or --all-accounts" --month 2026-10
    expect_error 64 "--all-accounts and --outdir DIR go together" --all-accounts --month 2026-10
    expect_error 64 "--format: unknown statement format 'pdf' (table, tsv, csv, json, html)" \
        --account acme --month 2026-10 --format pdf
    expect_error 64 "*Mars/Olympus*" --account acme --month 2026-10 --tz Mars/Olympus
    # what the command line parser refuses adds the tools' usual hint
    run --separate-stderr "$ROLLUP" invoice --account acme --unassigned --month 2026-10
    [ "$status" -eq 64 ]
    [ "$stderr" = "wp-rollup: --account excludes --unassigned"$'\n'"wp-rollup: try 'wp-rollup --help'" ]
    run --separate-stderr "$ROLLUP" invoice --account acme
    [ "$status" -eq 64 ]
    [ "${stderr%%$'\n'*}" = "wp-rollup: --month is required" ]
}

@test "invoice: without --tz, the summary's zone" {
    fill_month
    "$ROLLUP" --tz America/Toronto --rebuild
    "$ROLLUP" invoice --account acme --month 2026-10 --format tsv >"$T/got"
    "$ORACLE" "$DB" acme 2026-10 America/Toronto | diff - "$T/got"
}

# Quotas on this month's usage (sizes from sqlite3's own strftime of now).
fill_quota() {
    "$HOSTS" add tor1
    sqlite3 "$DB" <<'SQL'
INSERT INTO users(id, name) VALUES (1, 'alice'), (2, 'bob'), (3, 'carol');
INSERT INTO accounts(id, name, quota_bytes, added_at) VALUES (1, 'acme', 1000000, 0), (2, 'zeta', 1000, 0),
  (3, 'omega', 1000000000000, 0), (4, 'free', NULL, 0);
INSERT INTO account_assignments VALUES (1, 0, 1, 0), (2, 0, 2, 0), (3, 0, 4, 0);
INSERT INTO usage VALUES
  (1, 1, CAST(strftime('%s', 'now', 'start of month') AS INTEGER), 1, 425000, 850000),
  (1, 2, CAST(strftime('%s', 'now', 'start of month') AS INTEGER), 1, 600, 1200),
  (1, 3, CAST(strftime('%s', 'now', 'start of month') AS INTEGER), 1, 9000000, 9000000),
  (1, 1, CAST(strftime('%s', 'now', 'start of month', '-1 month') AS INTEGER), 1, 9000000, 9000000);
SQL
}

@test "quota: each monitoring status with its exact line and perfdata" {
    fill_quota
    perf="'acme'=850000B;@800000:;@1000000:;0;1000000 'omega'=0B;@800000000000:;@1000000000000:;0;1000000000000 'zeta'=1200B;@800:;@1000:;0;1000"
    run --separate-stderr "$ROLLUP" quota
    [ "$status" -eq 2 ]
    [ -z "$stderr" ]
    [ "$output" = "QUOTA CRITICAL - $THIS_MONTH (UTC): critical zeta 120% (1.2 KiB of 1000 B); warning acme 85% (830.1 KiB of 976.6 KiB); ok 1 of 3 accounts | $perf" ]

    run --separate-stderr "$ROLLUP" quota --crit 150
    [ "$status" -eq 1 ]
    [ "$output" = "QUOTA WARNING - $THIS_MONTH (UTC): warning zeta 120% (1.2 KiB of 1000 B), acme 85% (830.1 KiB of 976.6 KiB); ok 1 of 3 accounts | 'acme'=850000B;@800000:;@1500000:;0;1000000 'omega'=0B;@800000000000:;@1500000000000:;0;1000000000000 'zeta'=1200B;@800:;@1500:;0;1000" ]

    run --separate-stderr "$ROLLUP" quota --warn 90.5 --crit 200 --si
    [ "$status" -eq 1 ]
    [ "$output" = "QUOTA WARNING - $THIS_MONTH (UTC): warning zeta 120% (1.2 kB of 1.0 kB); ok 2 of 3 accounts | 'acme'=850000B;@905000:;@2000000:;0;1000000 'omega'=0B;@905000000000:;@2000000000000:;0;1000000000000 'zeta'=1200B;@905:;@2000:;0;1000" ]

    run --separate-stderr "$ROLLUP" quota --warn 121 --crit 121
    [ "$status" -eq 0 ]
    [ "$output" = "QUOTA OK - $THIS_MONTH (UTC): ok 3 of 3 accounts, highest zeta 120% (1.2 KiB of 1000 B) | 'acme'=850000B;@1210000:;@1210000:;0;1000000 'omega'=0B;@1210000000000:;@1210000000000:;0;1000000000000 'zeta'=1200B;@1210:;@1210:;0;1000" ]

    # exactly at the threshold counts
    run "$ROLLUP" quota --warn 85 --crit 120
    [ "$status" -eq 2 ]
    [[ "$output" == "QUOTA CRITICAL - $THIS_MONTH (UTC): critical zeta 120% (1.2 KiB of 1000 B); warning acme 85% "* ]]

    sqlite3 "$DB" 'UPDATE accounts SET quota_bytes = NULL'
    run --separate-stderr "$ROLLUP" quota
    [ "$status" -eq 0 ]
    [ "$output" = "QUOTA OK - $THIS_MONTH (UTC): no account has a quota" ]
}

@test "quota: bad thresholds and an unreadable database are UNKNOWN (3), one line on stdout" {
    fill_quota
    expect_unknown() { # LINE ARGS...
        local line=$1
        shift
        run --separate-stderr "$ROLLUP" quota "$@"
        [ "$status" -eq 3 ] || { echo "status $status: $output"; return 1; }
        [ -z "$stderr" ]
        # shellcheck disable=SC2053 # the line is a pattern
        [[ "$output" == $line ]] || { echo "got: $output"; return 1; }
    }
    expect_unknown "QUOTA UNKNOWN - --warn 90% is above --crit 80%" --warn 90 --crit 80
    # a command line the parser refuses is UNKNOWN too, as a plugin answers
    expect_unknown "QUOTA UNKNOWN - unexpected argument --nope" --nope
    expect_unknown "QUOTA UNKNOWN - --warn: 'abc' is not a percentage from 0 to 1000 (at most two decimals)" --warn abc
    expect_unknown "QUOTA UNKNOWN - --crit: '1.234' is not a percentage from 0 to 1000 (at most two decimals)" --crit 1.234
    expect_unknown "QUOTA UNKNOWN - --warn: '80.' is not a percentage from 0 to 1000 (at most two decimals)" --warn 80.
    expect_unknown "QUOTA UNKNOWN - --crit: '-5' is not a percentage from 0 to 1000 (at most two decimals)" --crit=-5
    expect_unknown "QUOTA UNKNOWN - --crit: '1001' is not a percentage from 0 to 1000 (at most two decimals)" --crit 1001
    expect_unknown "QUOTA UNKNOWN - *$T/none.db*" --db "$T/none.db"
    expect_unknown "QUOTA UNKNOWN - *Mars/Olympus*" --tz Mars/Olympus
}
