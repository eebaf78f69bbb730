// `fathom template`: renders a model's chat template for a conversation and
// prints the prompt exactly, with no newline added, so it can be compared byte
// for byte with transformers' apply_chat_template.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/mapped_file.h"

namespace fathom::cli {
namespace {

using json = nlohmann::ordered_json;

Result<json> ReadJsonFile(const std::string& path) {
  FATHOM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(path + ": not valid JSON");
  return j;
}

}  // namespace

int TemplateCommand(const Args& args) {
  Result<ParsedArgs> parsed = ParsedArgs::Parse(
      args, {{"model"}, {"messages"}, {"tools"}, {"var"}, {"name"}, {"add-generation-prompt", false}});
  if (!parsed.ok()) return Fail("template: " + parsed.status().message(), 2);
  if (!parsed->Has("model") || !parsed->Has("messages")) {
    return Fail("template: usage: fathom template --model M --messages FILE [--add-generation-prompt] "
                "[--tools FILE] [--var key=json ...] [--name TEMPLATE]",
                2);
  }
  Result<json> messages = ReadJsonFile(*parsed->Get("messages"));
  if (!messages.ok()) return Fail("template: " + messages.status().message());
  json tools = nullptr;
  if (messages->is_object() && messages->contains("messages")) {
    if (messages->contains("tools")) tools = (*messages)["tools"];
    json inner = (*messages)["messages"];
    *messages = std::move(inner);
  }
  if (!messages->is_array()) return Fail("template: " + *parsed->Get("messages") + ": expected a JSON array of messages");
  if (std::optional<std::string> tools_path = parsed->Get("tools")) {
    Result<json> t = ReadJsonFile(*tools_path);
    if (!t.ok()) return Fail("template: " + t.status().message());
    tools = std::move(t).value();
  }
  std::vector<std::pair<std::string, json>> extra;
  for (const std::string& kv : parsed->GetAll("var")) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Fail("template: --var needs key=json, got '" + kv + "'", 2);
    json value = json::parse(kv.substr(eq + 1), nullptr, false);
    if (value.is_discarded()) return Fail("template: --var " + kv.substr(0, eq) + ": value is not JSON (quote strings)", 2);
    extra.emplace_back(kv.substr(0, eq), std::move(value));
  }
  Result<ChatTemplate> tmpl = ChatTemplate::Load(*parsed->Get("model"), parsed->GetOr("name", ""));
  if (!tmpl.ok()) return Fail("template: " + tmpl.status().message());
  Result<std::string> prompt = tmpl->Render(*messages, parsed->Has("add-generation-prompt"), tools, extra);
  if (!prompt.ok()) return Fail("template: " + prompt.status().message());
  std::fwrite(prompt->data(), 1, prompt->size(), stdout);
  return 0;
}

}  // namespace fathom::cli
