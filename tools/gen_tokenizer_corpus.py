#!/usr/bin/env python3
"""Generates the tokenizer conformance corpus and the ids Hugging Face gives for it.

Writes, under tests/fixtures/tokenizer/:
  corpus.jsonl.gz         one JSON string per line (deterministic: fixed seed)
  <name>.jsonl.gz         first line: a header object; then one JSON array per corpus
                          line: the ids of encode(text, add_special_tokens=False)

The header records, per tokenizer, what add_special_tokens=True adds around those ids
on each path (the script asserts HF really adds exactly that, for every string):
  "tokenizers":   raw `tokenizers` Tokenizer.encode(add_special_tokens=True)
  "transformers": the fast tokenizer of `transformers`, whose LlamaTokenizerFast-style
                  update_post_processor replaces the template with
                  [bos if add_bos_token] $A [eos if add_eos_token] when
                  tokenizer_config.json sets either flag (emulated here: transformers
                  is not a dependency of the test tooling).
and "decoded": {line: text} where HF decode(ids) differs from the corpus text.

Usage: .venv/bin/python tools/gen_tokenizer_corpus.py [--shared ../shared] [--fathom build/release/fathom]
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import tempfile

from tokenizers import Tokenizer

SEED = 20250101
NUM_STRINGS = 10500

WORDS = ("the of and to in is was that for it with as his on be at by had are but from or have an they which "
         "one you were her all she there would their we him been has when who will more no if out so said what "
         "up its about into than them can only other new some could time these two may then do first any my now "
         "such like our over man me even most made after also did many before must through back years where much "
         "your way well down should because each just those people Mr how too little state good very make world "
         "still own see men work long get here between both life being under never day same another know while "
         "last might us great old year off come since against go came right used take three tokenizer model "
         "inference DeepSeek Qwen Llama GPU CUDA matrix vector attention latency throughput don't I'm we're "
         "they've she'll he'd it's IT'S YOU'RE WE'VE Hello HELLO naïve café résumé Zürich Straße").split()
SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<think>", "</think>",
            "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>",
            "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_5|>",
            "<tool_call>", "</tool_call>", "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜User｜>",
            "<｜Assistant｜>", "<|fim_prefix|>", "<|vision_start|>", "<|im_", "<｜end▁of", "<think", "</think",
            "<|eot_id", "< think>", "<THINK>", "<<think>>"]
CODE = [
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;\n\treturn 0;\n}\n",
    "const add = (a, b) => a + b;\nconsole.log(`sum=${add(1, 2)}`);\n// TODO: fix this\n",
    "fn main() {\n    let xs: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", xs);\n}\n",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello, 世界\")\n}\n",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;\n",
    "<html>\n  <body>\n    <div class=\"x\">&nbsp;&lt;tag&gt;</div>\n  </body>\n</html>\n",
    "$ cat /etc/passwd | grep -v '^#' | awk -F: '{print $1}' > out.txt 2>&1\n",
    "{\"key\": [1, 2.5, -3e10, null, true], \"nested\": {\"a\": \"b\\n\"}}\n",
    "x = np.zeros((3, 4), dtype=np.float32)  # shape (3, 4)\ny = x @ x.T\n",
    "public static void main(String[] args) { System.out.println(\"Hi\"); }\r\n",
    "    \t  mixed   indentation\t\t\n\n\n   trailing   \n",
]
EMOJI = ["😀", "😂", "👍", "👍🏽", "❤️", "🇺🇸", "🇯🇵", "👨‍👩‍👧‍👦", "👩🏻‍💻", "🏳️‍🌈", "🧑‍🚀", "✨", "🔥", "🙏🏿",
         "1️⃣", "#️⃣", "☺", "🫠", "👁️‍🗨️", "🐕‍🦺"]
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\u00a0", "\u3000", "\u2003", "\x85",
              "\u2028", "\x0b", "\x0c", "\u200b", "\ufeff", "\u180e", "\u202f", "    ", "\t\t", " \t \n"]
COMBINING = ["e\u0301", "a\u0308", "o\u0302\u0323", "n\u0303", "A\u030a", "\u1100\u1161\u11a8", "c\u0327",
             "i\u0307", "\u0915\u093f", "\u0e01\u0e34", "\u05e9\u05c1\u05b8", "x\u0336", "Z\u0351\u0352\u0353",
             "\u00e9", "\u212b", "\u2126", "\ufb01", "\u0041\u030a\u0301"]


def rand_range(rng, lo, hi, n):
    return "".join(chr(rng.randint(lo, hi)) for _ in range(n))


def english(rng):
    n = rng.randint(1, 30)
    words = [rng.choice(WORDS) for _ in range(n)]
    s = " ".join(words)
    if rng.random() < 0.5:
        s = s[0].upper() + s[1:] + rng.choice([".", "!", "?", "...", ",", ";", ":", " —", "\n"])
    return s


def chinese(rng):
    parts = []
    for _ in range(rng.randint(1, 6)):
        parts.append(rand_range(rng, 0x4E00, 0x9FA5, rng.randint(1, 12)))
        parts.append(rng.choice(["，", "。", "！", "？", "、", "：", "“", "”", " ", "", "ABC", "123"]))
    return "".join(parts)


def japanese(rng):
    parts = []
    for _ in range(rng.randint(1, 6)):
        lo, hi = rng.choice([(0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x9FA5), (0xFF66, 0xFF9D)])
        parts.append(rand_range(rng, lo, hi, rng.randint(1, 8)))
        parts.append(rng.choice(["、", "。", "ー", "・", " ", "", "「", "」"]))
    return "".join(parts)


def korean(rng):
    return " ".join(rand_range(rng, 0xAC00, 0xD7A3, rng.randint(1, 5)) for _ in range(rng.randint(1, 8))) + \
        rng.choice(["", ".", "?", "요."])


def arabic(rng):
    words = []
    for _ in range(rng.randint(1, 10)):
        w = rand_range(rng, 0x0621, 0x064A, rng.randint(2, 7))
        if rng.random() < 0.3:
            w += rng.choice(["\u064e", "\u064f", "\u0650", "\u0651", "\u0652"])
        words.append(w)
    s = " ".join(words)
    if rng.random() < 0.3:
        s += " " + "".join(chr(0x0660 + rng.randint(0, 9)) for _ in range(rng.randint(1, 6)))
    return s + rng.choice(["", "؟", "،", "."])


def misc_script(rng):
    ranges = [(0x0391, 0x03C9), (0x0410, 0x044F), (0x00C0, 0x00FF), (0x0100, 0x017F), (0x05D0, 0x05EA),
              (0x0905, 0x0939), (0x0E01, 0x0E2E), (0x10A0, 0x10C5), (0x2200, 0x22FF), (0x2500, 0x257F),
              (0x2190, 0x21FF), (0x0021, 0x007E), (0x00A1, 0x00BF), (0xFF01, 0xFF5E), (0x2010, 0x2027),
              (0x1E00, 0x1EFF), (0x0530, 0x0556), (0x20A0, 0x20BF)]
    out = []
    for _ in range(rng.randint(1, 8)):
        lo, hi = rng.choice(ranges)
        out.append(rand_range(rng, lo, hi, rng.randint(1, 6)))
        out.append(rng.choice(["", " ", "  ", "\n"]))
    return "".join(out)


def code(rng):
    s = rng.choice(CODE)
    if rng.random() < 0.5:
        s = s.replace("\n", "\r\n") if rng.random() < 0.3 else s
    if rng.random() < 0.3:
        s = s.replace("    ", "\t")
    return s


def emoji(rng):
    return "".join(rng.choice(EMOJI) + rng.choice(["", " ", "", "ok", "\n", "!!"]) for _ in range(rng.randint(1, 8)))


def combining(rng):
    return "".join(rng.choice(COMBINING) + rng.choice(["", " ", "x", "\u0301"]) for _ in range(rng.randint(1, 8)))


def digits(rng):
    out = []
    for _ in range(rng.randint(1, 5)):
        out.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25))))
        out.append(rng.choice(["", " ", ",", ".", "-", "x", "abc", "\u00bd", "²", "٣", "１２３", "Ⅻ", "e+10"]))
    return "".join(out)


def whitespace(rng):
    out = []
    for _ in range(rng.randint(1, 10)):
        out.append(rng.choice(WHITESPACE) * rng.randint(1, 6))
        out.append(rng.choice(["", "a", "word", "。", "1", "!", "'s"]))
    return "".join(out)


def specials(rng):
    out = []
    for _ in range(rng.randint(1, 6)):
        out.append(rng.choice([english(rng), "", " ", "\n", chinese(rng), "x"]))
        out.append(rng.choice(SPECIALS))
    return "".join(out)


def contractions(rng):
    forms = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL", "'D", "'ſ", "'K",
             "'\u212a", "'x", "''", "' s"]
    return "".join(rng.choice(["", " ", "it", "DON", "x", "ß", "İ"]) + rng.choice(forms) for _ in range(rng.randint(1, 6)))


def surrogates(rng):
    s = english(rng)
    chars = list(s)
    for _ in range(rng.randint(1, 3)):
        chars.insert(rng.randint(0, len(chars)), chr(rng.randint(0xD800, 0xDFFF)))
    s = "".join(chars)
    # Lone surrogates cannot be UTF-8; they become U+FFFD as in a lossy encode.
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


def mixed(rng):
    gens = [english, chinese, japanese, korean, arabic, code, emoji, combining, digits, whitespace, specials,
            misc_script, contractions]
    return "".join(rng.choice(gens)(rng) + rng.choice(["", " ", "\n"]) for _ in range(rng.randint(2, 6)))


def long_line(rng):
    out = []
    total = rng.randint(5000, 30000)
    n = 0
    while n < total:
        piece = mixed(rng).replace("\n", " ")
        out.append(piece)
        n += len(piece)
    return "".join(out)


def make_corpus():
    rng = random.Random(SEED)
    fixed = ["", " ", "a", "\n", "  ", "\t", "\r\n", "'s", "ſ", "ǅ", "123", "1234567", "<think>", "<|im_end|>",
             "<｜begin▁of▁sentence｜>", "Hello world", " Hello", "\u00e9", "e\u0301", "\ufffd", "\x00", "\x7f",
             "a\u0085b", "a\u180eb", "ÀÁÂ", "İstanbul", "ΣΑΣ", "ﬀ"]
    gens = [english] * 3 + [chinese, japanese, korean, arabic, code, emoji, combining, digits, whitespace,
                            specials, specials, misc_script, contractions, surrogates, mixed, mixed]
    corpus = list(fixed)
    while len(corpus) < NUM_STRINGS - 12:
        corpus.append(rng.choice(gens)(rng))
    for _ in range(12):
        corpus.append(long_line(rng))
    return corpus


def special_wrapping(tok, sample):
    """Returns (prefix, suffix) that add_special_tokens=True adds, asserting it is constant."""
    plain = tok.encode(sample, add_special_tokens=False).ids
    full = tok.encode(sample, add_special_tokens=True).ids
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return full[:i], full[i + len(plain):]
    raise SystemExit("add_special_tokens does more than wrap the ids")


def transformers_wrapping(tok, config, raw_prefix, raw_suffix):
    add_bos, add_eos = config.get("add_bos_token"), config.get("add_eos_token")
    if add_bos is None and add_eos is None:
        return raw_prefix, raw_suffix

    def token_id(key):
        v = config.get(key)
        content = v["content"] if isinstance(v, dict) else v
        return tok.token_to_id(content)

    return ([token_id("bos_token")] if add_bos else []), ([token_id("eos_token")] if add_eos else [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    ap.add_argument("--fathom", default="build/release/fathom")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "tokenizer"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    corpus = make_corpus()
    with gzip.GzipFile(os.path.join(args.out, "corpus.jsonl.gz"), "wb", mtime=0) as f:
        for s in corpus:
            f.write((json.dumps(s, ensure_ascii=False) + "\n").encode("utf-8"))

    tmp = tempfile.mkdtemp()
    subprocess.run([args.fathom, "synth", "--arch", "qwen2", "--preset", "tiny", "--out", tmp, "--quiet"], check=True)
    dirs = {"builtin": tmp}
    for name in ["deepseek-v3", "qwen3", "llama3.1"]:
        dirs[name] = os.path.join(args.shared, "models", "tokenizers", name)
    for name, d in dirs.items():
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        with open(os.path.join(d, "tokenizer_config.json")) as f:
            config = json.load(f)
        prefix, suffix = special_wrapping(tok, "x")
        tf_prefix, tf_suffix = transformers_wrapping(tok, config, prefix, suffix)
        plain = [e.ids for e in (tok.encode(s, add_special_tokens=False) for s in corpus)]
        for s, ids in zip(corpus, plain):
            full = tok.encode(s, add_special_tokens=True).ids
            assert full == prefix + ids + suffix, (name, s)
        decoded = {}
        for i, ids in enumerate(plain):
            d_text = tok.decode(ids, skip_special_tokens=False)
            if d_text != corpus[i]:
                decoded[str(i)] = d_text
        header = {"tokenizer": name, "num_strings": len(corpus),
                  "tokenizers": {"prefix": prefix, "suffix": suffix},
                  "transformers": {"prefix": tf_prefix, "suffix": tf_suffix}, "decoded": decoded}
        with gzip.GzipFile(os.path.join(args.out, name + ".jsonl.gz"), "wb", mtime=0) as f:
            f.write((json.dumps(header, ensure_ascii=False) + "\n").encode("utf-8"))
            for ids in plain:
                f.write((json.dumps(ids, separators=(",", ":")) + "\n").encode("utf-8"))
        print(name, len(corpus), "strings,", sum(map(len, plain)), "ids,", len(decoded), "decode diffs")


if __name__ == "__main__":
    main()
