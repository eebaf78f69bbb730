#!/usr/bin/env python3
"""Interop fixtures: what llama.cpp generates from GGUFs that `fathom quantize` wrote.

For each tiny synthetic model (qwen2, llama, deepseek_v2, deepseek_v3) and each
type (q8_0, q4_0) this script
  1. writes the model with `fathom synth --arch A --preset tiny --seed S`,
  2. quantizes it with `fathom quantize DIR OUT.gguf TYPE`,
  3. loads the GGUF in llama.cpp (libllama.so of the peer build, through the
     ctypes bindings of the pinned llama-cpp-python sdist) and decodes greedily
     from a fixed prompt of token ids, one token at a time,
  4. writes tests/fixtures/interop/<arch>_<type>.json with the GGUF's sha256, the
     prompt, llama.cpp's greedy ids, and each step's top-1/top-2 logit margin.

tests/integration/interop_test.cpp redoes steps 1-2 with the fathom binary,
checks the sha256 (so the fixture describes the same file) and that fathom's
greedy ids equal llama.cpp's for the fixture's `checked_steps` leading steps. A
step whose margin is below NEAR_TIE of the logits' scale may legitimately flip
between engines (llama.cpp quantizes the activations to 8 bits in its quantized
dot products, fathom does not), so the prompt is chosen so the first
MIN_ROBUST_STEPS steps are clear of near ties, and the check stops at the first
near tie (and, for MoE models, after MOE_CHECKED_STEPS; see below).

Usage (after building fathom and the peer):
  .venv-ref/bin/python tools/reference/gen_interop.py \
      [--fathom build/release/fathom] [--peer-bin .peer/build-0.3.36/bin]
"""
import argparse
import hashlib
import importlib
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import types

ROOT = pathlib.Path(__file__).resolve().parents[2]
# (arch, preset, tokenizer under ../shared/models/tokenizers): real tokenizers,
# whose pre-tokenizers llama.cpp knows by name.
MODELS = [("qwen2", "tiny", "qwen3"), ("llama", "tiny", "llama3.1"), ("deepseek_v2", "tiny", "deepseek-v3"),
          ("deepseek_v3", "tiny", "deepseek-v3")]
SHARED_TOKENIZERS = ROOT.parent / "shared" / "models" / "tokenizers"
TYPES = ["q8_0", "q4_0"]
SEED = 11             # fathom synth --seed
PROMPT_TOKENS = 24
GEN_TOKENS = 16
NEAR_TIE = 0.01       # a margin below this fraction of max |logit| is a near tie
MIN_ROBUST_STEPS = 8  # the prompt is re-drawn until this many steps have no near tie
MIN_FLOAT_AGREEMENT = 4  # ... and the quantized file's greedy follows the float32 file's this long
                         # (4-bit tiny models rarely follow it much longer)
# An MoE router's top-k is a discontinuity the output margin cannot see: a near
# tie between two experts' scores flips which expert runs and moves every logit.
# Long MoE continuations therefore part without an output near tie (seen on the
# tiny DeepSeek models after 11-12 steps), so only the first steps are checked.
MOE_CHECKED_STEPS = MIN_ROBUST_STEPS
PEER_VERSION = "0.3.36"
_silence = None


def load_llama_cpp(peer_bin):
    """The low-level ctypes bindings of the pinned sdist, bound to the peer's libllama.so."""
    os.environ["LLAMA_CPP_LIB_PATH"] = str(peer_bin)
    sdist = ROOT / ".venv-ref" / "llama-cpp-python"
    # The package's __init__ pulls in the high-level API and its dependencies
    # (diskcache, jinja2); an empty package module lets the bindings load alone.
    package = types.ModuleType("llama_cpp")
    package.__path__ = [str(sdist / "llama_cpp")]
    sys.modules["llama_cpp"] = package
    L = importlib.import_module("llama_cpp.llama_cpp")
    global _silence  # the callback must outlive every llama.cpp call
    _silence = L.llama_log_callback(lambda level, text, user_data: None)
    L.llama_log_set(_silence, None)
    L.llama_backend_init()
    return L


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def llama_greedy(L, gguf, prompt, n):
    """llama.cpp's greedy continuation of `prompt`: ids, top-1 margins, logit scales."""
    import numpy as np
    mparams = L.llama_model_default_params()
    model = L.llama_model_load_from_file(str(gguf).encode(), mparams)
    if not model:
        raise RuntimeError(f"llama.cpp cannot load {gguf}")
    cparams = L.llama_context_default_params()
    cparams.n_ctx = len(prompt) + n + 8
    cparams.n_batch = cparams.n_ctx
    cparams.n_threads = 1
    cparams.n_threads_batch = 1
    ctx = L.llama_init_from_model(model, cparams)
    if not ctx:
        raise RuntimeError(f"llama.cpp cannot make a context for {gguf}")
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    ids, margins, scales = [], [], []
    try:
        step = list(prompt)
        for _ in range(n):
            arr = (L.llama_token * len(step))(*step)
            if L.llama_decode(ctx, L.llama_batch_get_one(arr, len(step))) != 0:
                raise RuntimeError(f"llama_decode failed on {gguf}")
            logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).astype(np.float64)
            # Ties go to the lowest id, as fathom's max_element does. Synthetic
            # vocabularies repeat rows (bit-identical in both engines), so the
            # margin is to the best *different* value.
            top = int(np.argmax(logits))
            ids.append(top)
            below = logits[logits < logits[top]]
            margins.append(float(logits[top] - below.max()) if below.size else float("inf"))
            scales.append(float(np.max(np.abs(logits))))
            step = [ids[-1]]
    finally:
        L.llama_free(ctx)
        L.llama_model_free(model)
    return ids, margins, scales


def first_near_tie(margins, scales):
    for i, (m, s) in enumerate(zip(margins, scales)):
        if m < NEAR_TIE * s:
            return i
    return len(margins)


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def checked_steps(arch, margins, scales, float_agreement):
    """Leading steps worth comparing: before llama.cpp's first near tie and
    before the quantized file's greedy leaves the float32 file's (where the
    quantization error itself, not the engine, picks the token: for MoE models
    a router flip the output margins cannot show); MoE models at most
    MOE_CHECKED_STEPS."""
    steps = min(first_near_tie(margins, scales), float_agreement)
    return min(steps, MOE_CHECKED_STEPS) if arch.startswith("deepseek") else steps


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{r.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fathom", default=str(ROOT / "build" / "release" / "fathom"))
    ap.add_argument("--peer-bin", default=str(ROOT / ".peer" / f"build-{PEER_VERSION}" / "bin"))
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "interop"))
    args = ap.parse_args()
    L = load_llama_cpp(args.peer_bin)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for arch, preset, tokenizer in MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            model = pathlib.Path(tmp) / "model"
            synth = ["synth", "--arch", arch, "--preset", preset, "--seed", str(SEED), "--quiet"]
            run([args.fathom, *synth, "--tokenizer", str(SHARED_TOKENIZERS / tokenizer), "--out", str(model)])
            vocab = json.load(open(model / "config.json"))["vocab_size"]
            f32_gguf = pathlib.Path(tmp) / f"{arch}_f32.gguf"
            run([args.fathom, "quantize", str(model), str(f32_gguf), "f32"])
            for qtype in TYPES:
                gguf = pathlib.Path(tmp) / f"{arch}_{qtype}.gguf"
                run([args.fathom, "quantize", str(model), str(gguf), qtype])
                rng = random.Random(f"{arch}/{preset}/{qtype}")
                for attempt in range(300):
                    prompt = [rng.randrange(vocab) for _ in range(PROMPT_TOKENS)]
                    ids, margins, scales = llama_greedy(L, gguf, prompt, GEN_TOKENS)
                    float_ids, _, _ = llama_greedy(L, f32_gguf, prompt, GEN_TOKENS)
                    agreement = first_difference(ids, float_ids)
                    if first_near_tie(margins, scales) >= MIN_ROBUST_STEPS and agreement >= MIN_FLOAT_AGREEMENT:
                        break
                else:
                    raise RuntimeError(f"{arch} {qtype}: no prompt in 300 without an early near tie or float divergence")
                fixture = {
                    "arch": arch,
                    "preset": preset,
                    "seed": SEED,
                    "type": qtype,
                    "synth_args": synth,  # the test adds --tokenizer SHARED/models/tokenizers/T --out DIR
                    "tokenizer": tokenizer,
                    "gguf_sha256": sha256(gguf),
                    "gguf_bytes": gguf.stat().st_size,
                    "prompt": prompt,
                    "greedy": ids,
                    "margins": margins,
                    "logit_scales": scales,
                    "near_tie": NEAR_TIE,
                    # the test compares this many leading ids: up to the first near
                    # tie, and for MoE models at most MOE_CHECKED_STEPS
                    "float_agreement_steps": agreement,
                    "checked_steps": checked_steps(arch, margins, scales, agreement),
                    "min_robust_steps": min(MIN_ROBUST_STEPS, MIN_FLOAT_AGREEMENT),  # checked_steps is at least this
                    "llama_cpp": f"llama-cpp-python {PEER_VERSION} sdist (vendored llama.cpp), CPU, 1 thread",
                    "generated_by": "tools/reference/gen_interop.py",
                }
                path = out_dir / f"{arch}_{preset}_{qtype}.json"
                path.write_text(json.dumps(fixture, indent=1) + "\n")
                print(f"{path}: {len(ids)} ids, first near tie at step "
                      f"{first_near_tie(margins, scales)}", file=sys.stderr)


if __name__ == "__main__":
    main()
