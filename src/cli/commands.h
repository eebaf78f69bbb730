// Subcommands of the `fathom` binary. Each takes the arguments after its verb and
// returns the process exit code; errors are printed as one line on stderr.
#pragma once

#include <string>
#include <vector>

namespace fathom::cli {

using Args = std::vector<std::string>;

int Main(int argc, char** argv);

}  // namespace fathom::cli
