#!/usr/bin/env python3
"""Writes tests/fixtures/templates/: conversations and the prompts jinja2 renders
for them, the way transformers' apply_chat_template renders a chat template.

The environment mirrors transformers (utils/chat_template_utils.py): an
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the
loopcontrols extension; a tojson filter that is json.dumps with
ensure_ascii=False and sort_keys=False; raise_exception and strftime_now
globals; render(messages=, tools=, documents=, add_generation_prompt=, **special
tokens, **extra variables). Templates that raise record the error instead.

Usage: tools/gen_template_fixtures.py [--shared ../shared] [--fathom build/release/fathom]
"""
import argparse
import copy
import json
import os
import random
import subprocess
import tempfile
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "templates")

SHARED_TEMPLATES = [
    # (name, template path under shared, tokenizer dir for bos/eos)
    ("deepseek-r1-distill", "models/templates/deepseek-r1-distill.jinja", "models/tokenizers/deepseek-v3"),
    ("deepseek-v3", "models/templates/deepseek-v3.jinja", "models/tokenizers/deepseek-v3"),
    ("deepseek-v3.1", "models/templates/deepseek-v3.1.jinja", "models/tokenizers/deepseek-v3"),
    ("qwen3", "models/templates/qwen3.jinja", "models/tokenizers/qwen3"),
    ("llama3.1", "models/templates/llama3.1.jinja", "models/tokenizers/llama3.1"),
]
OWN_TEMPLATES = [
    # (name, synth arch, C++ constant in src/chat/default_template.h)
    ("own-deepseek", "deepseek_v3", "kDeepseekTemplate"),
    ("own-deepseek-thinking", "qwen2", "kDeepseekThinkingTemplate"),
]


def compile_template(text):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(text)


def token_text(tok):
    if isinstance(tok, dict):
        return tok.get("content")
    return tok


def special_tokens(config):
    out = {}
    for key in ("bos_token", "eos_token"):
        text = token_text(config.get(key))
        if text is not None:
            out[key] = text
    return out


# ---------------------------------------------------------------- conversations

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Search the web — returns snippets «quoted»",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string"}, "top_k": {"type": "integer", "default": 3},
            "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["query"]}}},
]
TOOL_NO_PARAMS = [{"type": "function", "function": {"name": "now", "description": "Current time", "parameters": {}}}]

TEXTS = [
    "Hello!", "What is 2+2?", "", "  padded with spaces  ", "line one\nline two\n",
    "Unicode: héllo wörld — 你好，世界 🌍", "Quotes ' and \" and \\ backslash", "Tabs\tand\r\nCRLF",
    "Emoji only 😀😀", "<b>html</b> & entities", "{{ not a template }} {% nor this %}",
    "\n\nleading newlines", "trailing newlines\n\n", "   ", "日本語のテキスト。", "Ünïcödé ÄÖÜ ß",
    "Write a haiku about the sea.", "a" * 200, "Привет, как дела?", "مرحبا بالعالم",
]
REASONING = [
    "<think>\nLet me think about it.\n</think>\n\nThe answer is 4.",
    "<think>reasoning without newlines</think>Final answer.",
    "Pre text <think>\nmiddle\n</think>\nafter one </think> twice",
    "</think>only a close tag",
    "<think>\n\n</think>\n\nEmpty reasoning.",
]


def tool_call(name, args, as_string=True):
    return {"type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False) if as_string else args}}


def handmade():
    u = lambda t: {"role": "user", "content": t}
    a = lambda t: {"role": "assistant", "content": t}
    s = lambda t: {"role": "system", "content": t}
    tool = lambda t: {"role": "tool", "content": t}
    call1 = tool_call("get_weather", {"city": "Paris"})
    call2 = tool_call("search", {"query": "weather in Paris — «today»", "top_k": 2})
    cases = [
        {"messages": [u("Hello!")]},
        {"messages": [s("You are helpful."), u("Hi")]},
        {"messages": [s("You are helpful."), u("Hi"), a("Hello! How can I help?"), u("Tell me a joke.")]},
        {"messages": [u("What is 2+2?"), a(REASONING[0])]},
        {"messages": [u("What is 2+2?"), a(REASONING[0]), u("And 3+3?")]},
        {"messages": [u("q"), a(REASONING[1]), u("q2"), a(REASONING[2])]},
        {"messages": [u("q"), a(REASONING[3])]},
        {"messages": [u("q"), a(REASONING[4]), u("again")]},
        {"messages": [u("Weather in Paris?"), {"role": "assistant", "content": None, "tool_calls": [call1]}]},
        {"messages": [u("Weather in Paris?"), {"role": "assistant", "content": None, "tool_calls": [call1]},
                      tool('{"temp": 21, "sky": "clear"}')]},
        {"messages": [u("Weather in Paris?"), {"role": "assistant", "content": None, "tool_calls": [call1]},
                      tool('{"temp": 21}'), a("It is 21 degrees and clear.")]},
        {"messages": [u("Weather and news?"), {"role": "assistant", "content": None, "tool_calls": [call1, call2]},
                      tool('{"temp": 21}'), tool("[\"snippet 1\", \"snippet 2\"]"), a("Here you go.")]},
        {"messages": [u("Weather?"), {"role": "assistant", "content": "Let me check.", "tool_calls": [call1]},
                      tool("sunny"), a("Sunny.")]},
        {"messages": [u("Weather?"), {"role": "assistant", "content": "", "tool_calls": [call1]}, tool("sunny")]},
        {"messages": [u("Weather?"), {"role": "assistant", "content": None,
                                      "tool_calls": [tool_call("get_weather", {"city": "Oslo"}, as_string=False)]},
                      tool("cold")]},
        {"messages": [s("sys one"), s("sys two"), u("hi")]},
        {"messages": [s("Only system")]},
        {"messages": [a("Assistant speaks first"), u("ok")]},
        {"messages": [u("first"), u("second in a row")]},
        {"messages": [u("x"), {"role": "assistant", "content": None, "tool_calls": [call1]}, tool("r1"),
                      {"role": "assistant", "content": None, "tool_calls": [call2]}, tool("r2"), a("done"), u("thanks")]},
        {"messages": [u("hi"), {"role": "assistant"}]},
        {"messages": [{"role": "user"}]},
        {"messages": [u("hi"), {"role": "assistant", "content": "reasoned", "reasoning_content": "I thought hard."}]},
        {"messages": [u("hi"), {"role": "assistant", "content": "prefix me", "prefix": True}]},
        {"messages": [u("<tool_response>\nx\n</tool_response>"), a("ok")]},
        {"messages": [u("Weather?"), {"role": "assistant", "content": None, "tool_calls": None}, u("again")]},
        {"messages": [u("Weather?"), {"role": "assistant", "content": "No tools", "tool_calls": []}]},
        {"messages": [{"role": "developer", "content": "dev note"}, u("hi")]},
        {"messages": [u("hi"), {"role": "assistant", "content": REASONING[0], "tool_calls": [call1]}, tool("r")]},
        {"messages": []},
    ]
    return cases


def random_cases(rng, count):
    cases = []
    for _ in range(count):
        msgs = []
        if rng.random() < 0.5:
            msgs.append({"role": "system", "content": rng.choice(TEXTS)})
        for turn in range(rng.randint(1, 4)):
            msgs.append({"role": "user", "content": rng.choice(TEXTS)})
            r = rng.random()
            if turn == 0 and rng.random() < 0.3:
                break
            if r < 0.45:
                msgs.append({"role": "assistant", "content": rng.choice(TEXTS)})
            elif r < 0.7:
                msgs.append({"role": "assistant", "content": rng.choice(REASONING)})
            else:
                calls = [tool_call("get_weather", {"city": rng.choice(["Paris", "Zürich", "東京"])})]
                if rng.random() < 0.4:
                    calls.append(tool_call("search", {"query": rng.choice(TEXTS)}))
                content = None if rng.random() < 0.6 else rng.choice(["Checking.", ""])
                msgs.append({"role": "assistant", "content": content, "tool_calls": calls})
                for _ in calls:
                    msgs.append({"role": "tool", "content": rng.choice(['{"ok": true}', "result text", "多语言"])})
                if rng.random() < 0.6:
                    msgs.append({"role": "assistant", "content": rng.choice(TEXTS)})
        cases.append({"messages": msgs})
    return cases


def build_cases():
    rng = random.Random(1234)
    base = handmade() + random_cases(rng, 40)
    cases = []
    for i, c in enumerate(base):
        c = copy.deepcopy(c)
        c["add_generation_prompt"] = bool(i % 2 == 0) if "add_generation_prompt" not in c else c["add_generation_prompt"]
        choice = i % 7
        if choice == 1:
            c["tools"] = TOOLS
        elif choice == 3:
            c["tools"] = TOOLS[:1]
        elif choice == 5:
            c["tools"] = TOOL_NO_PARAMS
        variant = i % 5
        if variant == 1:
            c["vars"] = {"thinking": True}
        elif variant == 2:
            c["vars"] = {"thinking": False}
        elif variant == 3:
            c["vars"] = {"enable_thinking": False}
        elif variant == 4:
            c["vars"] = {"enable_thinking": True}
        cases.append(c)
    # Every handmade conversation also with the generation prompt flipped.
    for c in handmade():
        c = copy.deepcopy(c)
        c["add_generation_prompt"] = True
        c["vars"] = {"thinking": True}
        cases.append(c)
    for i, c in enumerate(cases):
        c["id"] = i
    return cases


def render(template, tokens, case):
    kwargs = dict(tokens)
    kwargs.update(case.get("vars", {}))
    try:
        out = template.render(messages=case["messages"], tools=case.get("tools"), documents=None,
                              add_generation_prompt=case["add_generation_prompt"], **kwargs)
        return {"output": out}
    except Exception as e:  # noqa: BLE001 - every failure is an expected result
        return {"error": f"{type(e).__name__}: {e}"}


def own_templates(fathom):
    out = []
    for name, arch, constant in OWN_TEMPLATES:
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([fathom, "synth", "--arch", arch, "--preset", "tiny", "--out", d, "--quiet"], check=True)
            with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
                config = json.load(f)
        out.append((name, constant, config["chat_template"], special_tokens(config)))
    return out


# Small templates exercising one feature each, rendered with the same environment.
FEATURE_CASES = [
    ("{{ 1 + 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % -3 }}|{{ 2 ** 10 }}|{{ 7 / 2 }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}", {}),
    ("{{ 'a' ~ 1 ~ none ~ true }}|{{ 'ab' * 3 }}|{{ [1, 'x', none, true, 1.5] }}|{{ {'k': 'v', 'n': [1]} }}", {}),
    ("{{ x }}|{{ x is defined }}|{{ x is undefined }}|{{ none is none }}|{{ y is not none }}", {"y": 1}),
    ("{% for i in range(5) if i is odd %}{{ loop.index }}/{{ loop.length }}:{{ i }}{% if not loop.last %},{% endif %}{% else %}empty{% endfor %}", {}),
    ("{% for i in [] %}x{% else %}empty{% endfor %}", {}),
    ("{% for a, b in d.items() %}{{ a }}={{ b }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"z": 1, "a": 2}}),
    ("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("{% for x in 'abc' %}{{ loop.cycle('o', 'e') }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.revindex }}{% endfor %}", {}),
    ("{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", {}),
    ("{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]", {}),
    ("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }}", {}),
    ("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}content{% endcall %}", {}),
    ("{{ '  hi  ' | trim }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}", {}),
    ("{{ [3, 1, 2] | sort | join(',') }}|{{ ['b', 'A', 'a'] | unique | list }}|{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}|{{ 'abc' | length }}|{{ [1, 2] | count }}", {}),
    ("{{ x | default('d') }}|{{ '' | default('e', true) }}|{{ none | default('n') }}|{{ 0 | d('z', boolean=true) }}", {}),
    ("{{ users | map(attribute='name') | join(', ') }}|{{ users | selectattr('admin') | map(attribute='name') | list }}|{{ users | rejectattr('admin') | list | length }}", {"users": [{"name": "a", "admin": True}, {"name": "b", "admin": False}]}),
    ("{{ [1, 2, 3, 4] | select('even') | list }}|{{ [1, 2, 3, 4] | reject('divisibleby', 3) | list }}|{{ ['1', '2'] | map('int') | sum }}", {}),
    ("{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é\"\n' | tojson }}|{{ [] | tojson(indent=4) }}", {"d": {"b": [1, 2.5, None, True], "a": {"x": "ü"}}}),
    ("{{ d | items | list }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.get('a') }}|{{ d.get('q', 'none') }}", {"d": {"a": 1, "b": 2}}),
    ("{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a.b.c'.rsplit('.', 1) }}|{{ 'xxhixx'.strip('x') }}|{{ '  l'.lstrip() }}|{{ 'r  '.rstrip() }}", {}),
    ("{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.replace('l', 'L') }}{{ 'hello'.find('l') }}{{ 'hello'.count('l') }}{{ '{} and {}'.format(1, 'b') }}{{ 'Hi'.upper() }}{{ 'a b'.title() }}", {}),
    ("{{ s[1:3] }}|{{ s[::-1] }}|{{ s[-2:] }}|{{ l[1:] }}|{{ l[::2] }}|{{ l[-1] }}|{{ s[0] }}|{{ 'héllo'[1] }}|{{ 'héllo' | length }}", {"s": "abcdef", "l": [1, 2, 3, 4]}),
    ("{{ 1 < 2 < 3 }}{{ 'a' in 'abc' }}{{ 3 not in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 1 == 1.0 }}{{ [1, 2] == [1, 2] }}{{ 'b' > 'a' }}", {}),
    ("{{ 'yes' if x else 'no' }}|{{ 'only' if false }}|{{ a or 'b' }}|{{ a and 'b' }}|{{ not a }}", {"x": [1], "a": ""}),
    ("{{ 5 is divisibleby 5 }}{{ 2 is even }}{{ 'x' is string }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ {} is mapping }}{{ [] is sequence }}{{ true is boolean }}{{ true is true }}{{ 1 is in [1] }}{{ 2 is eq 2 }}", {}),
    ("{{ 3.7 | int }}|{{ '42' | int }}|{{ 'x' | int }}|{{ '2.5' | float }}|{{ -3 | abs }}|{{ 2.567 | round(2) }}|{{ 2.5 | round }}|{{ 5 | string }}", {}),
    ("{{ 'a\nb' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'one two  three' | wordcount }}|{{ '<a>' | e }}|{{ 'x' | safe }}", {}),
    ("  {% if true %}\n    yes\n  {% endif %}\n{%- if true -%}  trimmed  {%- endif %}\n{# comment #}\nafter\n", {}),
    ("{%+ if true %}keep{% endif +%}\nline\n    {{- 'x' -}}\n   y", {}),
    ("{% raw %}{{ not rendered }}{% endraw %}", {}),
    ("{{ ns }}{% set ns = namespace(a=1) %}{{ ns.a }}{{ ns.b }}", {}),
    ("{{ messages[0]['content'] }}{{ messages[0].content }}{{ messages[1] }}{{ messages | length }}", {"messages": [{"role": "user", "content": "c"}]}),
    ("{{ raise_exception('boom') }}", {}),
    ("{{ x.y }}", {}),
    ("{{ 1 + 'a' }}", {}),
    ("{{ [1] + [2] }}{{ [1, 2] * 2 }}{{ (1, 2) }}{{ () }}", {}),
    ("{% set a, b = [1, 2] %}{{ a }}{{ b }}{% for x in [[1, 2], [3, 4]] %}{% set p, q = x %}{{ p + q }}{% endfor %}", {}),
    ("{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    ("{{ 10 | float }}|{{ 1e-7 }}|{{ 123456789.0 * 1000000000 }}|{{ -0.0 }}|{{ 3.0 * 2 }}|{{ 1 / 3 }}", {}),
    ("{{ {'a': none, 'b': 'it\'s'} }}|{{ ['\n', \"q'\"] }}", {}),
    ("{{ tools | tojson(indent=4) }}{{ tools | tojson(sort_keys=true) }}{{ '日本' | tojson(ensure_ascii=true) }}", {"tools": [{"z": 1, "a": [1, {"c": None}]}]}),
]


def feature_fixture():
    out = []
    for text, variables in FEATURE_CASES:
        try:
            result = {"output": compile_template(text).render(**variables)}
        except Exception as e:  # noqa: BLE001
            result = {"error": f"{type(e).__name__}: {e}"}
        out.append({"template": text, "vars": variables, **result})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--fathom", default=os.path.join(ROOT, "build", "release", "fathom"))
    args = ap.parse_args()

    cases = build_cases()
    results = []
    for name, path, tok_dir in SHARED_TEMPLATES:
        with open(os.path.join(args.shared, path), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(args.shared, tok_dir, "tokenizer_config.json"), encoding="utf-8") as f:
            tokens = special_tokens(json.load(f))
        template = compile_template(text)
        results.append({"name": name, "shared_path": path, "tokens": tokens,
                        "results": [render(template, tokens, c) for c in cases]})
    for name, constant, text, tokens in own_templates(args.fathom):
        template = compile_template(text)
        results.append({"name": name, "constant": constant, "template": text, "tokens": tokens,
                        "results": [render(template, tokens, c) for c in cases]})

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "conversations.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(OUT_DIR, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/gen_template_fixtures.py", "jinja2": jinja2.__version__, "templates": results},
                  f, ensure_ascii=False, indent=0)
    with open(os.path.join(OUT_DIR, "features.json"), "w", encoding="utf-8") as f:
        json.dump(feature_fixture(), f, ensure_ascii=False, indent=1)
    for r in results:
        errors = sum(1 for x in r["results"] if "error" in x)
        print(f"{r['name']}: {len(r['results'])} cases, {errors} expected errors")


if __name__ == "__main__":
    main()
