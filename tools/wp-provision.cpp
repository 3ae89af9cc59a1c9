// wp-provision: take a freshly bought Debian VPS to a working proxy.
#include "cmd/tool_catalog.h"

int main(int argc, char** argv) {
    return wp::tool_main("wp-provision", argc, argv);
}
