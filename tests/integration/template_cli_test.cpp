// Drives `fathom template` end to end: exact bytes on stdout (no newline added),
// repeated --var, --tools, and one clear line on stderr for failures.
#include <gtest/gtest.h>

#include "tests/integration/run_fathom.h"
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fathom {
namespace {

namespace fs = std::filesystem;

using ::fathom::testing::RunResult;

// stderr folded into out, as the tests read one stream.
RunResult RunTemplate(const std::string& args) {
  RunResult r = ::fathom::testing::RunFathom("template " + args);
  r.out += r.err;
  return r;
}

class TemplateCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fathom_template_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

TEST_F(TemplateCliTest, PrintsPromptExactly) {
  const std::string tmpl = Write("t.jinja",
                                 "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                                 "{% if add_generation_prompt %}<assistant>{% endif %}{{ a }}{{ b | tojson }}"
                                 "{{ tools | length if tools else '' }}\n");
  const std::string msgs = Write("m.json", R"([{"role":"user","content":"héllo\n"}])");
  const std::string tools = Write("tools.json", R"([{"type":"function"}])");
  RunResult r = RunTemplate("--model " + tmpl + " --messages " + msgs +
                    " --add-generation-prompt --var a=1 --var 'b={\"x\": [true]}' --tools " + tools);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "<user>héllo\n<assistant>1{\"x\": [true]}1");
}

TEST_F(TemplateCliTest, FailuresGiveOneLine) {
  const std::string msgs = Write("m.json", R"([{"role":"user","content":"x"}])");
  RunResult r = RunTemplate("--model " + Write("bad.jinja", "{{ raise_exception('no system role') }}") + " --messages " + msgs);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("fathom: template: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no system role"), std::string::npos) << r.out;
  r = RunTemplate("--model " + Write("t.jinja", "x") + " --messages " + msgs + " --var novalue");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  r = RunTemplate("--messages " + msgs);
  EXPECT_EQ(r.exit_code, 2) << r.out;
}

TEST_F(TemplateCliTest, SharedTemplateWithThinking) {
  const std::string model = std::string(FATHOM_SHARED_DIR) + "/models/templates/deepseek-v3.1.jinja";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent";
  const std::string msgs = Write("m.json", R"([{"role":"user","content":"Hi"}])");
  EXPECT_EQ(RunTemplate("--model " + model + " --messages " + msgs + " --add-generation-prompt --var thinking=true").out,
            "<｜User｜>Hi<｜Assistant｜><think>");
  EXPECT_EQ(RunTemplate("--model " + model + " --messages " + msgs + " --add-generation-prompt").out,
            "<｜User｜>Hi<｜Assistant｜></think>");
}

}  // namespace
}  // namespace fathom
