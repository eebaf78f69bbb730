#!/usr/bin/env python3
"""Encode throughput, fathom vs Hugging Face `tokenizers`, single thread, same text.

Builds a few MB of text from the conformance corpus (tests/fixtures/tokenizer), then
for each real tokenizer runs build/release/tokenizer_bench and HF Tokenizer.encode in
a loop (TOKENIZERS_PARALLELISM=false, no encode_batch), best of 3 passes each, and
prints MB/s of both and the ratio fathom / HF.

Usage: .venv/bin/python bench/tokenizer_bench.py [--shared ../shared] [--mb 4]
"""
import argparse
import gzip
import json
import os
import subprocess
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "release", "tokenizer_bench"))
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    with gzip.open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "corpus.jsonl.gz"), "rt") as f:
        corpus = [json.loads(line) for line in f]
    texts, size = [], 0
    while size < args.mb * 1e6:
        for s in corpus:
            texts.append(s)
            size += len(s.encode("utf-8"))
            if size >= args.mb * 1e6:
                break
    path = os.path.join(tempfile.mkdtemp(), "text.jsonl")
    with open(path, "w") as f:
        for s in texts:
            f.write(json.dumps(s) + "\n")
    print(f"text: {len(texts)} strings, {size / 1e6:.2f} MB, single thread, best of {args.passes}")
    # HF is timed two ways: encode() per string (what a server does per request) and
    # encode_batch() over all strings, which runs sequentially with parallelism off
    # and so carries no per-call Python overhead. The ratio is against the faster.
    print(f"{'tokenizer':<12} {'fathom MB/s':>12} {'HF encode':>10} {'HF batch':>10} {'ratio':>7}")
    for name in ["deepseek-v3", "qwen3", "llama3.1"]:
        d = os.path.join(args.shared, "models", "tokenizers", name)
        out = subprocess.run([args.bench, d, path, str(args.passes)], check=True, capture_output=True, text=True)
        fathom = json.loads(out.stdout)["mb_per_s"]
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        best = 1e30
        for _ in range(args.passes):
            t0 = time.perf_counter()
            for s in texts:
                tok.encode(s, add_special_tokens=True)
            best = min(best, time.perf_counter() - t0)
        hf = size / best / 1e6
        best_batch = 1e30
        for _ in range(args.passes):
            t0 = time.perf_counter()
            tok.encode_batch(texts, add_special_tokens=True)
            best_batch = min(best_batch, time.perf_counter() - t0)
        hf_batch = size / best_batch / 1e6
        print(f"{name:<12} {fathom:>12.2f} {hf:>10.2f} {hf_batch:>10.2f} {fathom / max(hf, hf_batch):>7.2f}")


if __name__ == "__main__":
    main()
