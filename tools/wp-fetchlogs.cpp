// wp-fetchlogs: bring every server's Squid log into the spool, verified.
#include "cmd/tool_catalog.h"

int main(int argc, char** argv) {
    return wp::tool_main("wp-fetchlogs", argc, argv);
}
