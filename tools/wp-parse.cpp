// wp-parse: bill every Squid log line exactly once.
#include "cmd/tool_catalog.h"

int main(int argc, char** argv) {
    return wp::tool_main("wp-parse", argc, argv);
}
