// Subcommands of the `fathom` binary. Each takes the arguments after its verb and
// returns the process exit code; a failure prints one line on stderr that names
// the file and the problem ("fathom: model.gguf: ...") and returns 1; a usage
// error returns 2.
#pragma once

#include <string>
#include <vector>

namespace fathom::cli {

using Args = std::vector<std::string>;

int InspectCommand(const Args& args);
int SynthCommand(const Args& args);
int TemplateCommand(const Args& args);
int TokenizeCommand(const Args& args);
int DetokenizeCommand(const Args& args);
int LogitsCommand(const Args& args);
int RunCommand(const Args& args);
int QuantizeCommand(const Args& args);
int BenchCommand(const Args& args);
int EvalQuantCommand(const Args& args);
int ServeCommand(const Args& args);

int Main(int argc, char** argv);

// Prints "fathom: <message>" on stderr and returns the exit code.
int Fail(const std::string& message, int code = 1);

}  // namespace fathom::cli
