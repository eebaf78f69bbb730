// The `fathom` command: dispatches to one subcommand per verb (see cli/commands.h).
#include "cli/commands.h"

int main(int argc, char** argv) { return fathom::cli::Main(argc, argv); }
