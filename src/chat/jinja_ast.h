// The syntax tree of a parsed Jinja template: expressions and statements, each
// node carrying the line and column it came from so errors point at the source.
// Plain data; owned top-down through unique_ptr, immutable once parsed.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace fathom::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  kLiteral,    // literal
  kName,       // name
  kList,       // args: items
  kTuple,      // args: items (evaluates to a list)
  kDict,       // args: key0, value0, key1, value1, ...
  kGetAttr,    // args[0].name
  kGetItem,    // args[0][args[1]]
  kSlice,      // args[0][args[1]:args[2]:args[3]]; missing parts are null
  kCall,       // args[0](args[1..], kwargs)
  kFilter,     // args[0] | name(args[1..], kwargs)
  kTest,       // args[0] is [not] name(args[1..]); negated
  kNot,        // not args[0]
  kNeg,        // -args[0]
  kPos,        // +args[0]
  kBinary,     // args[0] op args[1]: + - * / // % ** ~
  kAnd,        // args[0] and args[1]
  kOr,         // args[0] or args[1]
  kCompare,    // args[0] ops[0] args[1] ops[1] args[2] ...
  kCondition,  // args[1] if args[0] else args[2] (args[2] may be null)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;              // kName, kGetAttr, kFilter, kTest, kBinary (operator)
  std::vector<std::string> ops;  // kCompare: "==", "!=", "<", "<=", ">", ">=", "in", "not in"
  bool negated = false;          // kTest
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

enum class StmtKind {
  kText,       // text
  kOutput,     // {{ expr }}
  kIf,         // conditions[i] -> bodies[i]; else_body
  kFor,        // for targets in expr [if filter] body [else else_body]
  kSet,        // set targets = expr, or set attr_target.attr = expr
  kSetBlock,   // {% set name %}body{% endset %}
  kMacro,      // macro name(params) body
  kCallBlock,  // {% call expr %}body{% endcall %}
  kFilterBlock,  // {% filter expr %}body{% endfilter %}; expr filters a kName "__body"
  kBreak,
  kContinue,
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null when required
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 0;
  int column = 0;
  std::string text;                  // kText
  ExprPtr expr;                      // output, for iterable, set value, call expr
  ExprPtr filter;                    // for ... if filter
  std::vector<std::string> targets;  // for/set names; set: attribute name in `attr`
  std::string attr;                  // set ns.attr = ...: targets[0] is ns
  std::vector<ExprPtr> conditions;   // if/elif
  std::vector<Body> bodies;          // if/elif bodies; for/macro/set-block/call body in bodies[0]
  Body else_body;
  std::string name;                  // macro name
  std::vector<MacroParam> params;    // macro / call-block params
};

}  // namespace fathom::jinja
