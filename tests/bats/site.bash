# Shared by the bats suites: paths to the built tools and a throwaway site
# (wp.conf, database, spool, archive, rejects) in a temporary directory.
# Loaded with `load site`; this file is not a suite itself (no .bats suffix).

# make_test_site PREFIX: sets SRC BIN PARSE HOSTS GEN ORACLE T DB, exports WP_CONFIG
make_test_site() {
    SRC=${WP_SRC:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
    BIN=${WP_BIN:-$SRC/build}
    PARSE=$BIN/wp-parse
    HOSTS=$BIN/wp-hosts
    GEN=$SRC/tests/tools/gen-squid-log
    ORACLE=$SRC/tests/tools/bill-awk
    T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 711 "$T" # a fleet's Squid (user proxy) may need to reach below it
    export WP_CONFIG=$T/wp.conf
    printf 'db = %s\nspool = %s\narchive = %s\nrejects = %s\n' \
        "$T/wp.db" "$T/spool" "$T/archive" "$T/rejects" >"$WP_CONFIG"
    DB=$T/wp.db
}
