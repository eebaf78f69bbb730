#include "chat/jinja_interpreter.h"

#include <memory>

namespace fathom::jinja {

Status Interpreter::Step() {
  if (++num_steps_ > limits_.max_steps) {
    return ResourceExhausted("template stopped after " + std::to_string(limits_.max_steps) +
                             " evaluation steps (endless loop?)");
  }
  return Status::Ok();
}

Status Interpreter::CheckSize(uint64_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    return ResourceExhausted("template output exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
  return Status::Ok();
}

Status Interpreter::Emit(const std::string& text) {
  std::string* out = outputs_.back();
  FATHOM_RETURN_IF_ERROR(CheckSize(out->size() + text.size()));
  *out += text;
  return Status::Ok();
}

Result<std::string> Interpreter::Render(const Body& body, const ValueDict& globals) {
  scopes_.clear();
  scopes_.emplace_back();
  for (const auto& [k, v] : globals.items()) scopes_[0][k] = v;
  scopes_.emplace_back();
  frame_base_ = 1;
  std::string out;
  outputs_ = {&out};
  FATHOM_RETURN_IF_ERROR(Exec(body));
  return out;
}

Value Interpreter::Lookup(const std::string& name) const {
  for (size_t i = scopes_.size(); i-- > frame_base_;) {
    auto it = scopes_[i].find(name);
    if (it != scopes_[i].end()) return it->second;
  }
  for (size_t i : {size_t{1}, size_t{0}}) {
    if (i >= frame_base_ && i != 0) continue;
    auto it = scopes_[i].find(name);
    if (it != scopes_[i].end()) return it->second;
  }
  return Value::Undefined("'" + name + "' is undefined");
}

void Interpreter::Assign(const std::string& name, Value value) { scopes_.back()[name] = std::move(value); }

Status Interpreter::Exec(const Body& body) {
  for (const StmtPtr& s : body) {
    FATHOM_RETURN_IF_ERROR(ExecStmt(*s));
    if (flow_ != Flow::kNormal) break;
  }
  return Status::Ok();
}

Result<std::string> Interpreter::Capture(const Body& body) {
  std::string text;
  outputs_.push_back(&text);
  Status s = Exec(body);
  outputs_.pop_back();
  if (!s.ok()) return s;
  return text;
}

Status Interpreter::ExecStmt(const Stmt& stmt) {
  FATHOM_RETURN_IF_ERROR(Step());
  switch (stmt.kind) {
    case StmtKind::kText:
      return Emit(stmt.text);
    case StmtKind::kOutput: {
      FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*stmt.expr));
      return Emit(v.Str());
    }
    case StmtKind::kIf:
      for (size_t i = 0; i < stmt.conditions.size(); ++i) {
        FATHOM_ASSIGN_OR_RETURN(Value c, Eval(*stmt.conditions[i]));
        if (c.Truthy()) return Exec(stmt.bodies[i]);
      }
      return Exec(stmt.else_body);
    case StmtKind::kFor:
      return ExecFor(stmt);
    case StmtKind::kSet:
      return ExecSet(stmt);
    case StmtKind::kSetBlock: {
      FATHOM_ASSIGN_OR_RETURN(std::string text, Capture(stmt.bodies[0]));
      Assign(stmt.targets[0], Value::String(std::move(text)));
      return Status::Ok();
    }
    case StmtKind::kMacro:
      Assign(stmt.name, DefineMacro(stmt));
      return Status::Ok();
    case StmtKind::kCallBlock:
      return ExecCallBlock(stmt);
    case StmtKind::kFilterBlock: {
      FATHOM_ASSIGN_OR_RETURN(std::string text, Capture(stmt.bodies[0]));
      scopes_.emplace_back();
      Assign("__body", Value::String(std::move(text)));
      Result<Value> v = Eval(*stmt.expr);
      scopes_.pop_back();
      if (!v.ok()) return v.status();
      return Emit(v->Str());
    }
    case StmtKind::kBreak:
      flow_ = Flow::kBreak;
      return Status::Ok();
    case StmtKind::kContinue:
      flow_ = Flow::kContinue;
      return Status::Ok();
  }
  return Status::Ok();
}

namespace {

Status Unpack(const std::vector<std::string>& targets, const Value& item, std::vector<std::pair<std::string, Value>>* out) {
  if (targets.size() == 1) {
    out->emplace_back(targets[0], item);
    return Status::Ok();
  }
  FATHOM_ASSIGN_OR_RETURN(ValueList parts, Iterate(item));
  if (item.is_undefined()) return UndefinedError(item);
  if (parts.size() != targets.size()) {
    return InvalidArgument("cannot unpack " + std::to_string(parts.size()) + " values into " +
                           std::to_string(targets.size()) + " names");
  }
  for (size_t i = 0; i < parts.size(); ++i) out->emplace_back(targets[i], parts[i]);
  return Status::Ok();
}

}  // namespace

Status Interpreter::ExecFor(const Stmt& stmt) {
  FATHOM_ASSIGN_OR_RETURN(Value iterable, Eval(*stmt.expr));
  Result<ValueList> items_or = Iterate(iterable);
  if (!items_or.ok()) return ErrorAt(*stmt.expr, items_or.status());
  ValueList items = std::move(items_or).value();
  scopes_.emplace_back();
  struct PopScope {
    std::vector<Scope>* scopes;
    ~PopScope() { scopes->pop_back(); }
  } pop{&scopes_};
  std::vector<std::pair<std::string, Value>> bound;
  if (stmt.filter) {
    ValueList kept;
    for (const Value& item : items) {
      bound.clear();
      FATHOM_RETURN_IF_ERROR(Unpack(stmt.targets, item, &bound));
      for (auto& [k, v] : bound) Assign(k, v);
      FATHOM_ASSIGN_OR_RETURN(Value keep, Eval(*stmt.filter));
      if (keep.Truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    return Exec(stmt.else_body);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    FATHOM_RETURN_IF_ERROR(Step());
    bound.clear();
    FATHOM_RETURN_IF_ERROR(Unpack(stmt.targets, items[i], &bound));
    for (auto& [k, v] : bound) Assign(k, v);
    ValueDict loop;
    loop.Set("index", Value::Int(i + 1));
    loop.Set("index0", Value::Int(i));
    loop.Set("revindex", Value::Int(n - i));
    loop.Set("revindex0", Value::Int(n - i - 1));
    loop.Set("first", Value::Bool(i == 0));
    loop.Set("last", Value::Bool(i == n - 1));
    loop.Set("length", Value::Int(n));
    loop.Set("depth", Value::Int(1));
    loop.Set("depth0", Value::Int(0));
    loop.Set("previtem", i > 0 ? items[i - 1] : Value::Undefined("there is no previous item"));
    loop.Set("nextitem", i + 1 < n ? items[i + 1] : Value::Undefined("there is no next item"));
    loop.Set("cycle", Value::Function("loop.cycle", [i](Interpreter&, CallArgs& args) -> Result<Value> {
               if (args.positional.empty()) return InvalidArgument("loop.cycle: no items given");
               return args.positional[static_cast<size_t>(i) % args.positional.size()];
             }));
    Assign("loop", Value::Dict(std::move(loop)));
    FATHOM_RETURN_IF_ERROR(Exec(stmt.bodies[0]));
    if (flow_ == Flow::kBreak) {
      flow_ = Flow::kNormal;
      break;
    }
    flow_ = Flow::kNormal;
  }
  return Status::Ok();
}

Status Interpreter::ExecSet(const Stmt& stmt) {
  FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*stmt.expr));
  if (!stmt.attr.empty()) {
    Value ns = Lookup(stmt.targets[0]);
    if (!ns.is_namespace()) {
      return ErrorAt(*stmt.expr, InvalidArgument("cannot assign attribute on non-namespace object '" +
                                                 stmt.targets[0] + "'"));
    }
    ns.MutableNamespace().Set(stmt.attr, std::move(v));
    return Status::Ok();
  }
  std::vector<std::pair<std::string, Value>> bound;
  Status s = Unpack(stmt.targets, v, &bound);
  if (!s.ok()) return ErrorAt(*stmt.expr, s);
  for (auto& [k, val] : bound) Assign(k, val);
  return Status::Ok();
}

Value Interpreter::DefineMacro(const Stmt& stmt) {
  const Stmt* macro = &stmt;
  return Value::Function(stmt.name, [macro](Interpreter& interp, CallArgs& args) -> Result<Value> {
    Value caller;
    for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it) {
      if (it->first == "caller") {
        caller = it->second;
        args.keyword.erase(it);
        break;
      }
    }
    return interp.CallMacro(*macro, args, caller);
  });
}

Result<Value> Interpreter::CallMacro(const Stmt& macro, CallArgs& args, const Value& caller) {
  if (call_depth_ >= limits_.max_call_depth) {
    return ResourceExhausted("macro '" + macro.name + "' nested deeper than " + std::to_string(limits_.max_call_depth) +
                             " calls");
  }
  Scope frame;
  ValueList varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < macro.params.size()) {
      frame[macro.params[i].name] = args.positional[i];
    } else {
      varargs.push_back(args.positional[i]);
    }
  }
  ValueDict kwargs;
  for (auto& [k, v] : args.keyword) {
    bool is_param = false;
    for (const MacroParam& p : macro.params) is_param |= p.name == k;
    if (is_param) {
      frame[k] = v;
    } else {
      kwargs.Set(k, v);
    }
  }
  frame["varargs"] = Value::List(std::move(varargs));
  frame["kwargs"] = Value::Dict(std::move(kwargs));
  if (!caller.is_undefined()) frame["caller"] = caller;
  const size_t saved_base = frame_base_;
  const Flow saved_flow = flow_;
  scopes_.push_back(std::move(frame));
  frame_base_ = scopes_.size() - 1;
  ++call_depth_;
  Status status;
  for (const MacroParam& p : macro.params) {
    if (scopes_.back().count(p.name)) continue;
    if (p.default_value) {
      Result<Value> d = Eval(*p.default_value);
      if (!d.ok()) {
        status = d.status();
        break;
      }
      scopes_.back()[p.name] = *d;
    } else {
      scopes_.back()[p.name] = Value::Undefined("'" + p.name + "' is undefined (missing argument of macro '" +
                                                macro.name + "')");
    }
  }
  std::string text;
  if (status.ok()) {
    Result<std::string> r = Capture(macro.bodies[0]);
    if (r.ok()) {
      text = std::move(r).value();
    } else {
      status = r.status();
    }
  }
  --call_depth_;
  scopes_.pop_back();
  frame_base_ = saved_base;
  flow_ = saved_flow;
  if (!status.ok()) return status;
  return Value::String(std::move(text));
}

Status Interpreter::ExecCallBlock(const Stmt& stmt) {
  const Stmt* block = &stmt;
  Value caller = Value::Function("caller", [block](Interpreter& interp, CallArgs& args) -> Result<Value> {
    return interp.CallMacro(*block, args, Value());
  });
  const Expr& call = *stmt.expr;
  FATHOM_ASSIGN_OR_RETURN(Value callee, Eval(*call.args[0]));
  FATHOM_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(call, 1));
  args.keyword.emplace_back("caller", caller);
  Result<Value> r = Call(callee, args);
  if (!r.ok()) return ErrorAt(call, r.status());
  return Emit(r->Str());
}

Result<Value> Interpreter::Call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) return UndefinedError(callee);
  if (!callee.is_callable()) return InvalidArgument("'" + callee.TypeName() + "' object is not callable");
  return callee.AsCallable().fn(*this, args);
}

Status Interpreter::ErrorAt(const Expr& expr, const Status& status) const {
  if (status.message().rfind("line ", 0) == 0 || status.code() == StatusCode::kResourceExhausted) return status;
  return Status(status.code(), "line " + std::to_string(expr.line) + ", column " + std::to_string(expr.column) + ": " +
                                   status.message());
}

Result<CallArgs> Interpreter::EvalArgs(const Expr& expr, size_t first) {
  CallArgs args;
  for (size_t i = first; i < expr.args.size(); ++i) {
    FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*expr.args[i]));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [k, e] : expr.kwargs) {
    FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*e));
    args.keyword.emplace_back(k, std::move(v));
  }
  return args;
}

Result<Value> Interpreter::Eval(const Expr& expr) {
  FATHOM_RETURN_IF_ERROR(Step());
  Result<Value> r = EvalInner(expr);
  if (!r.ok()) return ErrorAt(expr, r.status());
  return r;
}

Result<Value> Interpreter::EvalCall(const Expr& expr) {
  FATHOM_ASSIGN_OR_RETURN(Value callee, Eval(*expr.args[0]));
  FATHOM_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
  return Call(callee, args);
}

Result<Value> Interpreter::EvalCompare(const Expr& expr) {
  FATHOM_ASSIGN_OR_RETURN(Value left, Eval(*expr.args[0]));
  for (size_t i = 0; i < expr.ops.size(); ++i) {
    FATHOM_ASSIGN_OR_RETURN(Value right, Eval(*expr.args[i + 1]));
    FATHOM_ASSIGN_OR_RETURN(bool ok, CompareOp(expr.ops[i], left, right));
    if (!ok) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

Result<Value> Interpreter::EvalInner(const Expr& expr) {
  switch (expr.kind) {
    case ExprKind::kLiteral:
      return expr.literal;
    case ExprKind::kName:
      return Lookup(expr.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      ValueList items;
      for (const ExprPtr& e : expr.args) {
        FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*e));
        items.push_back(std::move(v));
      }
      return expr.kind == ExprKind::kTuple ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
    }
    case ExprKind::kDict: {
      ValueDict d;
      for (size_t i = 0; i + 1 < expr.args.size(); i += 2) {
        FATHOM_ASSIGN_OR_RETURN(Value k, Eval(*expr.args[i]));
        FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*expr.args[i + 1]));
        if (!k.is_string()) return Unsupported("dict keys must be strings, got " + k.TypeName());
        d.Set(k.AsString(), std::move(v));
      }
      return Value::Dict(std::move(d));
    }
    case ExprKind::kGetAttr: {
      FATHOM_ASSIGN_OR_RETURN(Value obj, Eval(*expr.args[0]));
      return GetAttr(obj, expr.name);
    }
    case ExprKind::kGetItem: {
      FATHOM_ASSIGN_OR_RETURN(Value obj, Eval(*expr.args[0]));
      FATHOM_ASSIGN_OR_RETURN(Value key, Eval(*expr.args[1]));
      return GetItem(obj, key);
    }
    case ExprKind::kSlice: {
      FATHOM_ASSIGN_OR_RETURN(Value obj, Eval(*expr.args[0]));
      Value parts[3];
      for (int i = 0; i < 3; ++i) {
        if (expr.args[1 + i]) {
          FATHOM_ASSIGN_OR_RETURN(parts[i], Eval(*expr.args[1 + i]));
        } else {
          parts[i] = Value::None();
        }
      }
      return Slice(obj, parts[0], parts[1], parts[2]);
    }
    case ExprKind::kCall:
      return EvalCall(expr);
    case ExprKind::kFilter: {
      FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*expr.args[0]));
      FATHOM_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
      return ApplyFilter(*this, expr.name, v, args);
    }
    case ExprKind::kTest: {
      FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*expr.args[0]));
      FATHOM_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr, 1));
      FATHOM_ASSIGN_OR_RETURN(bool r, ApplyTest(*this, expr.name, v, args));
      return Value::Bool(r != expr.negated);
    }
    case ExprKind::kNot: {
      FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*expr.args[0]));
      return Value::Bool(!v.Truthy());
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      FATHOM_ASSIGN_OR_RETURN(Value v, Eval(*expr.args[0]));
      if (v.is_undefined()) return UndefinedError(v);
      if (!v.is_number()) return InvalidArgument("bad operand type for unary " + std::string(expr.kind == ExprKind::kNeg ? "-" : "+") + ": '" + v.TypeName() + "'");
      if (expr.kind == ExprKind::kPos) return v.is_bool() ? Value::Int(v.AsInt()) : v;
      if (v.is_float()) return Value::Float(-v.AsDouble());
      if (v.AsInt() == INT64_MIN) return OutOfRange("integer overflow");
      return Value::Int(-v.AsInt());
    }
    case ExprKind::kBinary: {
      FATHOM_ASSIGN_OR_RETURN(Value a, Eval(*expr.args[0]));
      FATHOM_ASSIGN_OR_RETURN(Value b, Eval(*expr.args[1]));
      return BinaryOp(*this, expr.name, a, b);
    }
    case ExprKind::kAnd: {
      FATHOM_ASSIGN_OR_RETURN(Value a, Eval(*expr.args[0]));
      if (!a.Truthy()) return a;
      return Eval(*expr.args[1]);
    }
    case ExprKind::kOr: {
      FATHOM_ASSIGN_OR_RETURN(Value a, Eval(*expr.args[0]));
      if (a.Truthy()) return a;
      return Eval(*expr.args[1]);
    }
    case ExprKind::kCompare:
      return EvalCompare(expr);
    case ExprKind::kCondition: {
      FATHOM_ASSIGN_OR_RETURN(Value c, Eval(*expr.args[0]));
      if (c.Truthy()) return Eval(*expr.args[1]);
      if (expr.args[2]) return Eval(*expr.args[2]);
      return Value::Undefined("the inline if-expression has no else branch");
    }
  }
  return Internal("unknown expression kind");
}

}  // namespace fathom::jinja
