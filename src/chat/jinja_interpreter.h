// Runs a parsed Jinja template against a set of variables and produces its text,
// with jinja2's semantics as transformers configures it (default Undefined,
// immutable sandbox: lists and dicts cannot be mutated, only namespaces).
// The non-obvious rule: every run is bounded. Evaluation steps, output bytes and
// call depth are counted, and passing a limit stops the run with a Status, so a
// template that loops forever or grows without end cannot hang or exhaust memory.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"
#include "core/status.h"

namespace fathom::jinja {

struct RenderLimits {
  uint64_t max_output_bytes = 64ull << 20;  // also bounds any one string built
  uint64_t max_steps = 50'000'000;          // expressions + statements evaluated
  int max_call_depth = 64;                  // nested macro calls
};

// Renders one template once. Not thread-safe; cheap to construct per render.
class Interpreter {
 public:
  explicit Interpreter(const RenderLimits& limits) : limits_(limits) {}
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Returns the text of `body` with `globals` visible as variables.
  Result<std::string> Render(const Body& body, const ValueDict& globals);

  // Calls a callable value. Errors for anything that cannot be called.
  Result<Value> Call(const Value& callee, CallArgs& args);
  // Counts one evaluation step; fails past max_steps.
  Status Step();
  // Fails if a string of `bytes` would pass max_output_bytes.
  Status CheckSize(uint64_t bytes) const;
  const RenderLimits& limits() const { return limits_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Scope = std::unordered_map<std::string, Value>;

  Status Exec(const Body& body);
  Status ExecStmt(const Stmt& stmt);
  Status ExecFor(const Stmt& stmt);
  Status ExecSet(const Stmt& stmt);
  Status ExecCallBlock(const Stmt& stmt);
  Result<std::string> Capture(const Body& body);
  Status Emit(const std::string& text);
  Value DefineMacro(const Stmt& stmt);
  Result<Value> CallMacro(const Stmt& macro, CallArgs& args, const Value& caller);

  Result<Value> Eval(const Expr& expr);
  Result<Value> EvalInner(const Expr& expr);
  Result<Value> EvalCall(const Expr& expr);
  Result<Value> EvalCompare(const Expr& expr);
  Result<CallArgs> EvalArgs(const Expr& expr, size_t first);

  Value Lookup(const std::string& name) const;
  void Assign(const std::string& name, Value value);

  Status ErrorAt(const Expr& expr, const Status& status) const;

  RenderLimits limits_;
  uint64_t num_steps_ = 0;
  int call_depth_ = 0;
  std::vector<Scope> scopes_;  // [0] globals, [1] template top level, then loops/macros
  size_t frame_base_ = 1;      // scopes below this (except 0 and 1) are invisible
  std::vector<std::string*> outputs_;
  Flow flow_ = Flow::kNormal;
};

// Binary operators and comparisons with Python semantics (jinja_operators.cpp).
Result<Value> BinaryOp(Interpreter& interp, const std::string& op, const Value& a, const Value& b);
Result<bool> CompareOp(const std::string& op, const Value& a, const Value& b);
// Python `needle in haystack`.
Result<bool> Contains(const Value& haystack, const Value& needle);
// for-loop iteration: list items, dict keys, string code points; Undefined is empty.
Result<ValueList> Iterate(const Value& value);
// a.name (jinja2 getattr: attributes and methods first, then items).
Result<Value> GetAttr(const Value& obj, const std::string& name);
// a[key] (jinja2 getitem: items first, then attributes).
Result<Value> GetItem(const Value& obj, const Value& key);
// a[start:stop:step]; missing parts are Undefined values.
Result<Value> Slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// The error a use of an Undefined value raises.
Status UndefinedError(const Value& undefined);

// Filters and tests (jinja_filters.cpp).
Result<Value> ApplyFilter(Interpreter& interp, const std::string& name, const Value& value, CallArgs& args);
Result<bool> ApplyTest(Interpreter& interp, const std::string& name, const Value& value, CallArgs& args);
bool HasTest(const std::string& name);
bool HasFilter(const std::string& name);

// Methods of str, dict and list values, and the template globals (jinja_methods.cpp).
// Returns the bound method `name` of `obj`, or nullopt-equivalent Undefined if none.
Value BoundMethod(const Value& obj, const std::string& name);
void AddGlobals(ValueDict* globals);

}  // namespace fathom::jinja
