// wp-hosts: list, add, change, retire and import the servers of the fleet.
#include "cmd/tool_catalog.h"

int main(int argc, char** argv) {
    return wp::tool_main("wp-hosts", argc, argv);
}
