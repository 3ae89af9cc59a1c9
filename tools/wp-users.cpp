// wp-users: users, the accounts their usage is billed to over time, and quotas.
#include "cmd/tool_catalog.h"

int main(int argc, char** argv) {
    return wp::tool_main("wp-users", argc, argv);
}
