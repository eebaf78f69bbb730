// Runs the real `fathom` binary for integration tests, capturing stdout, stderr
// and the exit code; stdin comes from a string.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace fathom::testing {

struct RunResult {
  int exit_code = -1;  // -1 if the process did not exit normally
  std::string out;
  std::string err;
};

// `args` is appended to the binary's path as shell words (quote as needed).
inline RunResult RunFathom(const std::string& args, const std::string& stdin_text = "") {
  namespace fs = std::filesystem;
  static int counter = 0;
  const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const fs::path in_file = fs::temp_directory_path() / ("fathom_run_in_" + tag);
  const fs::path err_file = fs::temp_directory_path() / ("fathom_run_err_" + tag);
  std::ofstream(in_file, std::ios::binary) << stdin_text;
  const std::string cmd = std::string(FATHOM_BINARY) + " " + args + " <" + in_file.string() + " 2>" + err_file.string();
  RunResult r;
  if (FILE* p = ::popen(cmd.c_str(), "r"); p != nullptr) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::ifstream ef(err_file, std::ios::binary);
  r.err.assign(std::istreambuf_iterator<char>(ef), {});
  fs::remove(in_file);
  fs::remove(err_file);
  return r;
}

// Runs a command that must fail: returns its stderr after checking the exit code
// and that it is one "fathom: " line with nothing on stdout.
inline std::string ExpectOneLineFailure(const std::string& args, int want_exit) {
  const RunResult r = RunFathom(args);
  EXPECT_EQ(r.exit_code, want_exit) << args << "\n" << r.err;
  EXPECT_EQ(r.out, "") << args;
  EXPECT_TRUE(r.err.starts_with("fathom: ")) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  return r.err;
}

}  // namespace fathom::testing
