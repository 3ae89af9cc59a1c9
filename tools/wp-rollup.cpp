// wp-rollup: keep the daily usage summary true, and print the reports read from it.
#include "cmd/tool_catalog.h"

int main(int argc, char** argv) {
    return wp::tool_main("wp-rollup", argc, argv);
}
