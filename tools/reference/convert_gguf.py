#!/usr/bin/env python3
"""Converts some of the reference models to GGUF with llama.cpp's own converter.

For each case below it re-synthesizes the model with the `synth_args` recorded in
tests/fixtures/logits/C.json (and checks the recorded FNV-1a hashes), runs
llama.cpp's `convert_hf_to_gguf.py` on it, and, when the result is small enough
to commit (< 1.5 MB), writes tests/fixtures/logits/C.gguf and adds
"gguf": {"file", "converter", "outtype"} to C.json.

The converter comes from the llama-cpp-python sdist that tools/reference/setup.sh
unpacks into .venv-ref/llama-cpp-python/ (vendor/llama.cpp, with its gguf-py); it is
imported, not copied. One override: the converter identifies a BPE pre-tokenizer by
hashing how the tokenizer splits a probe text, and it does not know fathom's built-in
512-token vocab. That vocab's tokenizer.json pre-tokenizer is exactly Llama 3's
(Split on the Llama 3 regex, then ByteLevel without regex), which llama.cpp calls
"llama-bpe", so for that tokenizer (checked field by field) the detection reports
"llama-bpe". Any other unknown tokenizer still fails as before.

Usage: .venv-ref/bin/python tools/reference/convert_gguf.py [--fathom PATH] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LLAMA_CPP = ROOT / ".venv-ref/llama-cpp-python/vendor/llama.cpp"
LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # must match tools/reference/setup.sh
LLAMA_CPP_COMMIT = "0c1e57098"  # the llama.cpp that sdist vendors (its CHANGELOG)
GGUF_PY_VERSION = "0.19.0"  # vendor/llama.cpp/gguf-py
FIXTURES = ROOT / "tests/fixtures/logits"
MAX_BYTES = 1_500_000

CASES = [  # case, --outtype
    ("qwen2-tiny", "f32"),
    ("llama-tiny", "f32"),
    ("llama-tiny-tied", "bf16"),
    ("v2-tiny", "f32"),
    ("v3-tiny", "f32"),
]

# Llama 3's pre-tokenizer regex, as in its tokenizer.json (and fathom's built-in vocab).
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def is_builtin_vocab(model_dir: Path) -> bool:
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    pre = tok.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers") or []
    if pre.get("type") != "Sequence" or len(parts) != 2:
        return False
    split, byte_level = parts
    return (tok.get("model", {}).get("type") == "BPE" and len(tok["model"].get("vocab", {})) == 512
            and split.get("type") == "Split" and split.get("pattern") == {"Regex": LLAMA3_SPLIT}
            and split.get("behavior") == "Isolated" and not split.get("invert")
            and byte_level.get("type") == "ByteLevel" and byte_level.get("use_regex") is False
            and not byte_level.get("add_prefix_space"))


def import_converter():
    if not (LLAMA_CPP / "convert_hf_to_gguf.py").is_file():
        raise SystemExit(f"no converter at {LLAMA_CPP}; run tools/reference/setup.sh")
    sys.path.insert(0, str(LLAMA_CPP))
    import convert_hf_to_gguf  # noqa: E402  (puts its own gguf-py first on sys.path)
    from conversion import base

    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        if is_builtin_vocab(Path(self.dir_model)):
            return "llama-bpe"
        return original(self, tokenizer)

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    return convert_hf_to_gguf


def fnv1a64(path: Path) -> str:
    h = 0xCBF29CE484222325
    for b in path.read_bytes():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def convert(conv, model_dir: Path, out: Path, outtype: str) -> None:
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", str(model_dir), "--outfile", str(out), "--outtype", outtype]
    try:
        conv.main()
    finally:
        sys.argv = argv


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fathom", type=Path, default=ROOT / "build/release/fathom")
    ap.add_argument("--case", action="append", help="only these cases (default: all)")
    a = ap.parse_args()
    if not a.fathom.exists():
        raise SystemExit(f"no fathom binary at {a.fathom} (build it, or pass --fathom)")
    conv = import_converter()
    selected = [c for c in CASES if not a.case or c[0] in a.case]
    if a.case and len(selected) != len(a.case):
        raise SystemExit(f"unknown case in {a.case}; cases: {[c[0] for c in CASES]}")
    with tempfile.TemporaryDirectory(prefix="fathom-gguf-") as tmp:
        for case, outtype in selected:
            meta_path = FIXTURES / (case + ".json")
            meta = json.loads(meta_path.read_text())
            model_dir = Path(tmp) / case
            subprocess.run([str(a.fathom), "synth", *meta["synth_args"], "--out", str(model_dir)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            hashes = {f.name: fnv1a64(f) for f in sorted(model_dir.glob("*.safetensors"))}
            if hashes != meta["checkpoint_fnv1a64"]:
                raise SystemExit(f"{case}: synth output changed ({hashes} vs {meta['checkpoint_fnv1a64']}); "
                                 "rerun gen_logits.py first")
            out = Path(tmp) / (case + ".gguf")
            convert(conv, model_dir, out, outtype)
            size = out.stat().st_size
            dest = FIXTURES / (case + ".gguf")
            if size >= MAX_BYTES:
                print(f"{case}: {size} bytes, too large to commit; skipped", flush=True)
                meta.pop("gguf", None)
                dest.unlink(missing_ok=True)
            else:
                shutil.copyfile(out, dest)
                meta["gguf"] = {
                    "file": dest.name,
                    "converter": f"llama.cpp {LLAMA_CPP_COMMIT} convert_hf_to_gguf.py (llama-cpp-python "
                                 f"{LLAMA_CPP_PYTHON_VERSION} sdist, gguf-py {GGUF_PY_VERSION})",
                    "outtype": outtype,
                    "tokenizer_pre": "llama-bpe (forced for fathom's built-in vocab, whose pre-tokenizer is Llama 3's)",
                }
                print(f"{case}: {dest.relative_to(ROOT)} ({size} bytes)", flush=True)
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from gen_logits import dump_json
            meta_path.write_text(dump_json(meta) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
