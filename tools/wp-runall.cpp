// wp-runall: run a command, push a file or run a script on every selected server.
#include "cmd/tool_catalog.h"

int main(int argc, char** argv) {
    return wp::tool_main("wp-runall", argc, argv);
}
