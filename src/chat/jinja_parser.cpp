#include "chat/jinja_parser.h"

#include <charconv>
#include <cstdlib>
#include <initializer_list>

namespace fathom::jinja {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<Body> ParseAll() {
    std::string end_tag;
    FATHOM_ASSIGN_OR_RETURN(Body body, ParseBody({}, &end_tag));
    return body;
  }

 private:
  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Peek(size_t n = 1) const { return tokens_[std::min(pos_ + n, tokens_.size() - 1)]; }
  void Advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsOp(const char* op) const { return Cur().kind == TokenKind::kOperator && Cur().text == op; }
  bool IsName(const char* name) const { return Cur().kind == TokenKind::kName && Cur().text == name; }
  bool SkipOp(const char* op) {
    if (!IsOp(op)) return false;
    Advance();
    return true;
  }
  bool SkipName(const char* name) {
    if (!IsName(name)) return false;
    Advance();
    return true;
  }

  Status ErrorAt(const Token& t, const std::string& what) const {
    return InvalidArgument("template syntax error at line " + std::to_string(t.line) + ", column " +
                           std::to_string(t.column) + ": " + what);
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kEof: return "end of template";
      case TokenKind::kBlockEnd: return "'%}'";
      case TokenKind::kVarEnd: return "'}}'";
      case TokenKind::kBlockBegin: return "'{%'";
      case TokenKind::kVarBegin: return "'{{'";
      case TokenKind::kString: return "string";
      case TokenKind::kText: return "text";
      default: return "'" + t.text + "'";
    }
  }
  Status Expect(TokenKind kind, const char* what) {
    if (Cur().kind != kind) return ErrorAt(Cur(), std::string("expected ") + what + ", got " + Describe(Cur()));
    Advance();
    return Status::Ok();
  }
  Status ExpectOp(const char* op) {
    if (!SkipOp(op)) return ErrorAt(Cur(), std::string("expected '") + op + "', got " + Describe(Cur()));
    return Status::Ok();
  }
  Result<std::string> ExpectName() {
    if (Cur().kind != TokenKind::kName) return ErrorAt(Cur(), "expected a name, got " + Describe(Cur()));
    std::string n = Cur().text;
    Advance();
    return n;
  }

  ExprPtr Node(ExprKind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  // Parses statements until `{% tag %}` for a tag in `end_tags`; the tag name is
  // consumed and stored in *end_tag (the rest of that tag is left to the caller).
  Result<Body> ParseBody(std::initializer_list<const char*> end_tags, std::string* end_tag) {
    if (++depth_ > kMaxNestingDepth) return ErrorAt(Cur(), "blocks nested too deeply");
    Body body;
    while (true) {
      const Token& t = Cur();
      if (t.kind == TokenKind::kEof) {
        if (end_tags.size() == 0) break;
        std::string expected;
        for (const char* tag : end_tags) expected += (expected.empty() ? "'" : " or '") + std::string(tag) + "'";
        return ErrorAt(t, "unexpected end of template, expected " + expected);
      }
      if (t.kind == TokenKind::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kText;
        s->text = t.text;
        body.push_back(std::move(s));
        Advance();
      } else if (t.kind == TokenKind::kVarBegin) {
        Advance();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kOutput;
        s->line = t.line;
        s->column = t.column;
        FATHOM_ASSIGN_OR_RETURN(s->expr, ParseTuple(true));
        FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kVarEnd, "'}}'"));
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::kBlockBegin) {
        const Token& name = Peek();
        bool is_end = false;
        for (const char* tag : end_tags) {
          if (name.kind == TokenKind::kName && name.text == tag) is_end = true;
        }
        if (is_end) {
          *end_tag = name.text;
          Advance();
          Advance();
          break;
        }
        Advance();
        FATHOM_ASSIGN_OR_RETURN(StmtPtr s, ParseStatement());
        if (s) body.push_back(std::move(s));
      } else {
        return ErrorAt(t, "unexpected " + Describe(t));
      }
    }
    --depth_;
    return body;
  }

  Result<StmtPtr> ParseStatement() {
    const Token at = Cur();
    if (at.kind != TokenKind::kName) return ErrorAt(at, "expected a statement name, got " + Describe(at));
    auto s = std::make_unique<Stmt>();
    s->line = at.line;
    s->column = at.column;
    const std::string kw = at.text;
    Advance();
    std::string end;
    if (kw == "if") {
      s->kind = StmtKind::kIf;
      FATHOM_ASSIGN_OR_RETURN(ExprPtr cond, ParseExpression());
      s->conditions.push_back(std::move(cond));
      FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
      while (true) {
        FATHOM_ASSIGN_OR_RETURN(Body b, ParseBody({"elif", "else", "endif"}, &end));
        s->bodies.push_back(std::move(b));
        if (end == "elif") {
          FATHOM_ASSIGN_OR_RETURN(ExprPtr c, ParseExpression());
          s->conditions.push_back(std::move(c));
          FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
        } else if (end == "else") {
          FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
          FATHOM_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endif"}, &end));
          break;
        } else {
          break;
        }
      }
    } else if (kw == "for") {
      s->kind = StmtKind::kFor;
      FATHOM_RETURN_IF_ERROR(ParseTargets(&s->targets));
      if (!SkipName("in")) return ErrorAt(Cur(), "expected 'in', got " + Describe(Cur()));
      FATHOM_ASSIGN_OR_RETURN(s->expr, ParseTuple(false));
      if (SkipName("if")) {
        FATHOM_ASSIGN_OR_RETURN(s->filter, ParseExpression());
      }
      if (IsName("recursive")) return ErrorAt(Cur(), "recursive loops are not supported");
      FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
      FATHOM_ASSIGN_OR_RETURN(Body b, ParseBody({"else", "endfor"}, &end));
      s->bodies.push_back(std::move(b));
      if (end == "else") {
        FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
        FATHOM_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endfor"}, &end));
      }
    } else if (kw == "set") {
      FATHOM_ASSIGN_OR_RETURN(std::string first, ExpectName());
      s->targets.push_back(first);
      if (SkipOp(".")) {
        FATHOM_ASSIGN_OR_RETURN(s->attr, ExpectName());
      } else {
        while (SkipOp(",")) {
          FATHOM_ASSIGN_OR_RETURN(std::string n, ExpectName());
          s->targets.push_back(n);
        }
      }
      if (SkipOp("=")) {
        s->kind = StmtKind::kSet;
        FATHOM_ASSIGN_OR_RETURN(s->expr, ParseTuple(true));
      } else {
        if (!s->attr.empty() || s->targets.size() != 1) return ErrorAt(Cur(), "expected '='");
        s->kind = StmtKind::kSetBlock;
        if (Cur().kind == TokenKind::kOperator && Cur().text == "|") {
          return ErrorAt(Cur(), "filtered block set is not supported");
        }
        FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
        FATHOM_ASSIGN_OR_RETURN(Body b, ParseBody({"endset"}, &end));
        s->bodies.push_back(std::move(b));
      }
    } else if (kw == "macro" || kw == "call") {
      s->kind = kw == "macro" ? StmtKind::kMacro : StmtKind::kCallBlock;
      if (kw == "macro") {
        FATHOM_ASSIGN_OR_RETURN(s->name, ExpectName());
        FATHOM_RETURN_IF_ERROR(ExpectOp("("));
        FATHOM_RETURN_IF_ERROR(ParseParams(s.get()));
      } else {
        if (SkipOp("(")) FATHOM_RETURN_IF_ERROR(ParseParams(s.get()));
        FATHOM_ASSIGN_OR_RETURN(s->expr, ParseExpression());
        if (s->expr->kind != ExprKind::kCall) return ErrorAt(at, "expected a call after 'call'");
      }
      FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
      FATHOM_ASSIGN_OR_RETURN(Body b, ParseBody({kw == "macro" ? "endmacro" : "endcall"}, &end));
      s->bodies.push_back(std::move(b));
    } else if (kw == "filter") {
      s->kind = StmtKind::kFilterBlock;
      ExprPtr body_name = Node(ExprKind::kName, at);
      body_name->name = "__body";
      FATHOM_ASSIGN_OR_RETURN(s->expr, ParseFilterChain(std::move(body_name), /*first_has_pipe=*/false));
      FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
      FATHOM_ASSIGN_OR_RETURN(Body b, ParseBody({"endfilter"}, &end));
      s->bodies.push_back(std::move(b));
    } else if (kw == "generation") {
      // transformers' assistant-mask marker: renders its body unchanged.
      s->kind = StmtKind::kIf;
      ExprPtr yes = Node(ExprKind::kLiteral, at);
      yes->literal = Value::Bool(true);
      s->conditions.push_back(std::move(yes));
      FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
      FATHOM_ASSIGN_OR_RETURN(Body b, ParseBody({"endgeneration"}, &end));
      s->bodies.push_back(std::move(b));
    } else if (kw == "break" || kw == "continue") {
      s->kind = kw == "break" ? StmtKind::kBreak : StmtKind::kContinue;
      if (loop_depth_hint_ < 0) return ErrorAt(at, "'" + kw + "' outside a loop");
    } else {
      return ErrorAt(at, "unknown statement '" + kw + "'");
    }
    FATHOM_RETURN_IF_ERROR(Expect(TokenKind::kBlockEnd, "'%}'"));
    return s;
  }

  Status ParseTargets(std::vector<std::string>* targets) {
    const bool paren = SkipOp("(");
    do {
      FATHOM_ASSIGN_OR_RETURN(std::string n, ExpectName());
      targets->push_back(n);
    } while (SkipOp(","));
    if (paren) FATHOM_RETURN_IF_ERROR(ExpectOp(")"));
    return Status::Ok();
  }

  Status ParseParams(Stmt* s) {
    while (!SkipOp(")")) {
      if (!s->params.empty()) FATHOM_RETURN_IF_ERROR(ExpectOp(","));
      if (SkipOp(")")) break;
      MacroParam p;
      FATHOM_ASSIGN_OR_RETURN(p.name, ExpectName());
      if (SkipOp("=")) {
        FATHOM_ASSIGN_OR_RETURN(p.default_value, ParseExpression());
      }
      s->params.push_back(std::move(p));
    }
    return Status::Ok();
  }

  // A comma-separated list becomes a tuple (jinja2's parse_tuple).
  Result<ExprPtr> ParseTuple(bool with_condexpr) {
    const Token at = Cur();
    FATHOM_ASSIGN_OR_RETURN(ExprPtr first, with_condexpr ? ParseExpression() : ParseOr());
    if (!IsOp(",")) return first;
    ExprPtr tuple = Node(ExprKind::kTuple, at);
    tuple->args.push_back(std::move(first));
    while (SkipOp(",")) {
      if (Cur().kind == TokenKind::kBlockEnd || Cur().kind == TokenKind::kVarEnd || IsOp(")")) break;
      FATHOM_ASSIGN_OR_RETURN(ExprPtr e, with_condexpr ? ParseExpression() : ParseOr());
      tuple->args.push_back(std::move(e));
    }
    return tuple;
  }

  Result<ExprPtr> ParseExpression() {
    if (++depth_ > kMaxNestingDepth) return ErrorAt(Cur(), "expression nested too deeply");
    const Token at = Cur();
    FATHOM_ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
    while (SkipName("if")) {
      ExprPtr c = Node(ExprKind::kCondition, at);
      FATHOM_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(e));
      if (SkipName("else")) {
        FATHOM_ASSIGN_OR_RETURN(ExprPtr other, ParseExpression());
        c->args.push_back(std::move(other));
      } else {
        c->args.push_back(nullptr);
      }
      e = std::move(c);
    }
    --depth_;
    return e;
  }

  Result<ExprPtr> ParseOr() {
    FATHOM_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      const Token at = Cur();
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      ExprPtr n = Node(ExprKind::kOr, at);
      n->args.push_back(std::move(left));
      n->args.push_back(std::move(right));
      left = std::move(n);
    }
    return left;
  }

  Result<ExprPtr> ParseAnd() {
    FATHOM_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      const Token at = Cur();
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      ExprPtr n = Node(ExprKind::kAnd, at);
      n->args.push_back(std::move(left));
      n->args.push_back(std::move(right));
      left = std::move(n);
    }
    return left;
  }

  Result<ExprPtr> ParseNot() {
    if (IsName("not")) {
      if (++depth_ > kMaxNestingDepth) return ErrorAt(Cur(), "expression nested too deeply");
      const Token at = Cur();
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      ExprPtr n = Node(ExprKind::kNot, at);
      n->args.push_back(std::move(operand));
      --depth_;
      return n;
    }
    return ParseCompare();
  }

  Result<ExprPtr> ParseCompare() {
    const Token at = Cur();
    FATHOM_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (Cur().kind == TokenKind::kOperator &&
          (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" || Cur().text == "<=" ||
           Cur().text == ">" || Cur().text == ">=")) {
        op = Cur().text;
        Advance();
      } else if (IsName("in")) {
        op = "in";
        Advance();
      } else if (IsName("not") && Peek().kind == TokenKind::kName && Peek().text == "in") {
        op = "not in";
        Advance();
        Advance();
      } else {
        break;
      }
      if (!cmp) {
        cmp = Node(ExprKind::kCompare, at);
        cmp->args.push_back(std::move(first));
      }
      FATHOM_ASSIGN_OR_RETURN(ExprPtr rhs, ParseMath1());
      cmp->ops.push_back(op);
      cmp->args.push_back(std::move(rhs));
    }
    if (cmp) return cmp;
    return first;
  }

  Result<ExprPtr> Binary(ExprPtr left, const Token& at, const std::string& op, ExprPtr right) {
    ExprPtr n = Node(ExprKind::kBinary, at);
    n->name = op;
    n->args.push_back(std::move(left));
    n->args.push_back(std::move(right));
    return n;
  }

  Result<ExprPtr> ParseMath1() {
    FATHOM_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
    while (IsOp("+") || IsOp("-")) {
      const Token at = Cur();
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
      FATHOM_ASSIGN_OR_RETURN(left, Binary(std::move(left), at, at.text, std::move(right)));
    }
    return left;
  }

  Result<ExprPtr> ParseConcat() {
    FATHOM_ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
    while (IsOp("~")) {
      const Token at = Cur();
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
      FATHOM_ASSIGN_OR_RETURN(left, Binary(std::move(left), at, "~", std::move(right)));
    }
    return left;
  }

  Result<ExprPtr> ParseMath2() {
    FATHOM_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const Token at = Cur();
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
      FATHOM_ASSIGN_OR_RETURN(left, Binary(std::move(left), at, at.text, std::move(right)));
    }
    return left;
  }

  Result<ExprPtr> ParsePow() {
    FATHOM_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
    while (IsOp("**")) {
      const Token at = Cur();
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
      FATHOM_ASSIGN_OR_RETURN(left, Binary(std::move(left), at, "**", std::move(right)));
    }
    return left;
  }

  Result<ExprPtr> ParseUnary(bool with_filter) {
    if (++depth_ > kMaxNestingDepth) return ErrorAt(Cur(), "expression nested too deeply");
    const Token at = Cur();
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      Advance();
      FATHOM_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      node = Node(at.text == "-" ? ExprKind::kNeg : ExprKind::kPos, at);
      node->args.push_back(std::move(operand));
    } else {
      FATHOM_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    FATHOM_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      FATHOM_ASSIGN_OR_RETURN(node, ParseFilterChain(std::move(node), true));
    }
    --depth_;
    return node;
  }

  Result<ExprPtr> ParsePrimary() {
    const Token at = Cur();
    switch (at.kind) {
      case TokenKind::kName: {
        Advance();
        ExprPtr n = Node(ExprKind::kLiteral, at);
        if (at.text == "true" || at.text == "True") {
          n->literal = Value::Bool(true);
        } else if (at.text == "false" || at.text == "False") {
          n->literal = Value::Bool(false);
        } else if (at.text == "none" || at.text == "None") {
          n->literal = Value::None();
        } else {
          n->kind = ExprKind::kName;
          n->name = at.text;
        }
        return n;
      }
      case TokenKind::kString: {
        std::string s;
        while (Cur().kind == TokenKind::kString) {
          s += Cur().text;
          Advance();
        }
        ExprPtr n = Node(ExprKind::kLiteral, at);
        n->literal = Value::String(std::move(s));
        return n;
      }
      case TokenKind::kInt: {
        Advance();
        int64_t v = 0;
        auto [p, ec] = std::from_chars(at.text.data(), at.text.data() + at.text.size(), v);
        ExprPtr n = Node(ExprKind::kLiteral, at);
        if (ec != std::errc()) {
          n->literal = Value::Float(std::strtod(at.text.c_str(), nullptr));
        } else {
          n->literal = Value::Int(v);
        }
        return n;
      }
      case TokenKind::kFloat: {
        Advance();
        ExprPtr n = Node(ExprKind::kLiteral, at);
        n->literal = Value::Float(std::strtod(at.text.c_str(), nullptr));
        return n;
      }
      case TokenKind::kOperator:
        if (at.text == "(") {
          Advance();
          if (SkipOp(")")) return Node(ExprKind::kTuple, at);
          FATHOM_ASSIGN_OR_RETURN(ExprPtr first, ParseExpression());
          if (SkipOp(")")) return first;
          ExprPtr tuple = Node(ExprKind::kTuple, at);
          tuple->args.push_back(std::move(first));
          while (SkipOp(",")) {
            if (IsOp(")")) break;
            FATHOM_ASSIGN_OR_RETURN(ExprPtr e, ParseExpression());
            tuple->args.push_back(std::move(e));
          }
          FATHOM_RETURN_IF_ERROR(ExpectOp(")"));
          return tuple;
        }
        if (at.text == "[") {
          Advance();
          ExprPtr list = Node(ExprKind::kList, at);
          while (!SkipOp("]")) {
            if (!list->args.empty()) FATHOM_RETURN_IF_ERROR(ExpectOp(","));
            if (SkipOp("]")) break;
            FATHOM_ASSIGN_OR_RETURN(ExprPtr e, ParseExpression());
            list->args.push_back(std::move(e));
          }
          return list;
        }
        if (at.text == "{") {
          Advance();
          ExprPtr dict = Node(ExprKind::kDict, at);
          while (!SkipOp("}")) {
            if (!dict->args.empty()) FATHOM_RETURN_IF_ERROR(ExpectOp(","));
            if (SkipOp("}")) break;
            FATHOM_ASSIGN_OR_RETURN(ExprPtr k, ParseExpression());
            FATHOM_RETURN_IF_ERROR(ExpectOp(":"));
            FATHOM_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression());
            dict->args.push_back(std::move(k));
            dict->args.push_back(std::move(v));
          }
          return dict;
        }
        break;
      default:
        break;
    }
    return ErrorAt(at, "unexpected " + Describe(at));
  }

  Status ParseCallArgs(Expr* call) {
    while (!SkipOp(")")) {
      // args[0] holds the callee or operand; later arguments follow commas.
      if (call->args.size() + call->kwargs.size() > 1) FATHOM_RETURN_IF_ERROR(ExpectOp(","));
      if (SkipOp(")")) break;
      if (IsOp("*") || IsOp("**")) return ErrorAt(Cur(), "*args and **kwargs in calls are not supported");
      if (Cur().kind == TokenKind::kName && Peek().kind == TokenKind::kOperator && Peek().text == "=") {
        std::string key = Cur().text;
        Advance();
        Advance();
        FATHOM_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression());
        call->kwargs.emplace_back(std::move(key), std::move(v));
      } else {
        if (!call->kwargs.empty()) return ErrorAt(Cur(), "positional argument after keyword argument");
        FATHOM_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression());
        call->args.push_back(std::move(v));
      }
    }
    return Status::Ok();
  }

  Result<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      const Token at = Cur();
      if (SkipOp(".")) {
        if (Cur().kind == TokenKind::kName) {
          ExprPtr n = Node(ExprKind::kGetAttr, at);
          n->name = Cur().text;
          Advance();
          n->args.push_back(std::move(node));
          node = std::move(n);
        } else if (Cur().kind == TokenKind::kInt) {
          ExprPtr n = Node(ExprKind::kGetItem, at);
          ExprPtr idx = Node(ExprKind::kLiteral, Cur());
          idx->literal = Value::Int(std::atoll(Cur().text.c_str()));
          Advance();
          n->args.push_back(std::move(node));
          n->args.push_back(std::move(idx));
          node = std::move(n);
        } else {
          return ErrorAt(Cur(), "expected an attribute name after '.'");
        }
      } else if (SkipOp("[")) {
        FATHOM_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), at));
      } else if (SkipOp("(")) {
        ExprPtr call = Node(ExprKind::kCall, at);
        call->args.push_back(std::move(node));
        FATHOM_RETURN_IF_ERROR(ParseCallArgs(call.get()));
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  Result<ExprPtr> ParseSubscript(ExprPtr target, const Token& at) {
    std::vector<ExprPtr> parts(3);
    int part = 0;
    bool is_slice = false;
    while (!IsOp("]")) {
      if (SkipOp(":")) {
        is_slice = true;
        if (++part > 2) return ErrorAt(Cur(), "too many ':' in slice");
        continue;
      }
      if (parts[part]) return ErrorAt(Cur(), "expected ']' or ':'");
      FATHOM_ASSIGN_OR_RETURN(parts[part], ParseExpression());
    }
    Advance();
    if (!is_slice) {
      if (!parts[0]) return ErrorAt(at, "empty subscript");
      ExprPtr n = Node(ExprKind::kGetItem, at);
      n->args.push_back(std::move(target));
      n->args.push_back(std::move(parts[0]));
      return n;
    }
    ExprPtr n = Node(ExprKind::kSlice, at);
    n->args.push_back(std::move(target));
    for (ExprPtr& p : parts) n->args.push_back(std::move(p));
    return n;
  }

  // Parses `| name(args)` filters and `is [not] test` tests after `node`.
  Result<ExprPtr> ParseFilterChain(ExprPtr node, bool first_has_pipe) {
    bool need_pipe = first_has_pipe;
    while (true) {
      const Token at = Cur();
      if (!need_pipe || SkipOp("|")) {
        need_pipe = true;
        FATHOM_ASSIGN_OR_RETURN(std::string name, ExpectName());
        while (SkipOp(".")) {
          FATHOM_ASSIGN_OR_RETURN(std::string part, ExpectName());
          name += "." + part;
        }
        ExprPtr f = Node(ExprKind::kFilter, at);
        f->name = name;
        f->args.push_back(std::move(node));
        if (SkipOp("(")) FATHOM_RETURN_IF_ERROR(ParseCallArgs(f.get()));
        node = std::move(f);
      } else if (first_has_pipe && IsName("is")) {
        Advance();
        ExprPtr t = Node(ExprKind::kTest, at);
        t->negated = SkipName("not");
        FATHOM_ASSIGN_OR_RETURN(t->name, ExpectName());
        while (SkipOp(".")) {
          FATHOM_ASSIGN_OR_RETURN(std::string part, ExpectName());
          t->name += "." + part;
        }
        t->args.push_back(std::move(node));
        if (SkipOp("(")) {
          FATHOM_RETURN_IF_ERROR(ParseCallArgs(t.get()));
        } else if ((Cur().kind == TokenKind::kName || Cur().kind == TokenKind::kString ||
                    Cur().kind == TokenKind::kInt || Cur().kind == TokenKind::kFloat || IsOp("[") || IsOp("{")) &&
                   !IsName("else") && !IsName("or") && !IsName("and") && !IsName("if") && !IsName("in") &&
                   !IsName("not") && !IsName("is")) {
          FATHOM_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
          FATHOM_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
          t->args.push_back(std::move(arg));
        }
        node = std::move(t);
      } else if (first_has_pipe && IsOp("(")) {
        Advance();
        ExprPtr call = Node(ExprKind::kCall, at);
        call->args.push_back(std::move(node));
        FATHOM_RETURN_IF_ERROR(ParseCallArgs(call.get()));
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_hint_ = 0;
};

}  // namespace

Result<Body> ParseTemplate(std::string_view source, const LexerOptions& options) {
  FATHOM_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source, options));
  Parser parser(std::move(tokens));
  return parser.ParseAll();
}

}  // namespace fathom::jinja
