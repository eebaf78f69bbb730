#!/usr/bin/env python3
"""Writes the forward-pass reference fixtures under tests/fixtures/logits/.

For every case below it
  1. writes a tiny random-weight model with our own `fathom synth` (deterministic
     per seed) and hashes each *.safetensors file (64-bit FNV-1a);
  2. loads it in Hugging Face transformers (native classes, no remote code,
     float32, eager attention, CPU) and fails unless every parameter and buffer
     of the model equals the checkpoint tensor it came from (bf16 upcast exactly;
     FP8 dequantized here, see below) and the only checkpoint tensors left unused
     are DeepSeek-V3's MTP layer `model.layers.<num_hidden_layers>.*`;
  3. runs three token sequences (lengths 1, 9, 40; the 40 one starts with bos 0)
     without cache and keeps the logits of every position;
  4. decodes 32 tokens greedily from a 9-token prompt with a KV cache (its own
     loop: eos does not stop it), requires every step's top-1/top-2 logit gap to
     be >= 1e-3 * max|logit| (else draws the next prompt from the same RNG), and
     checks the cached decode against one no-cache forward over prompt+continuation.

Output per case C (see tests/fixtures/logits/README.md):
  C.json          metadata, token ids, greedy continuation
  C.logits.f32    raw little-endian float32, rows of vocab_size, sequences in order

FP8 (v3-tiny-fp8): transformers' FP8 path needs a GPU; on CPU it falls back to
dequantizing (to bf16), which requires weight shapes divisible by the scale grid
and fails on this checkpoint's ragged 128x128 blocks. So this script dequantizes the way
DeepSeek's reference does, in float32: w = float32(w_fp8) * scale_inv[i // 128, j // 128],
drops `quantization_config` from the config, and loads the dequantized tensors.

Needs the reference venv (tools/reference/setup.sh), never the main .venv:
  .venv-ref/bin/python tools/reference/gen_logits.py [--fathom PATH] [--out DIR] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, DynamicCache

ROOT = Path(__file__).resolve().parents[2]
SEED = 1  # fathom synth --seed for every case
TOKEN_SEED = 20250101  # numpy RNG for the token sequences (same stream for every case)
SEQ_LENGTHS = (1, 9, 40)
BOS = 0
GREEDY_PROMPT_LEN = 9
GREEDY_NEW_TOKENS = 32
MIN_REL_GAP = 1e-3  # top-1 minus top-2 logit, relative to the row's max |logit|
MAX_PROMPT_DRAWS = 100
CACHE_CHECK_TOL = 1e-4  # max rel diff, cached decode vs one no-cache forward

CASES = [
    # case, fathom arch, preset, dtype (f32|bf16|fp8)
    ("qwen2-tiny", "qwen2", "tiny", "f32"),
    ("qwen2-tiny-tied", "qwen2", "tiny-tied", "bf16"),
    ("llama-tiny", "llama", "tiny", "f32"),
    ("llama-tiny-tied", "llama", "tiny-tied", "bf16"),
    ("v2-tiny", "deepseek_v2", "tiny", "f32"),
    ("v2-tiny-grouped", "deepseek_v2", "tiny-grouped", "f32"),
    ("v3-tiny", "deepseek_v3", "tiny", "f32"),
    ("v3-tiny-fp8", "deepseek_v3", "tiny-fp8", "fp8"),
]


def synth_args(arch: str, preset: str, dtype: str) -> list[str]:
    # FP8 presets store their linear weights as F8_E4M3 whatever --dtype says; the
    # rest (norms, embeddings, router) is bf16, as in the released DeepSeek-V3.
    return ["--arch", arch, "--preset", preset, "--seed", str(SEED), "--dtype", "bf16" if dtype == "fp8" else dtype]


def fnv1a64(path: Path) -> str:
    h = 0xCBF29CE484222325
    prime = 0x100000001B3
    mask = 0xFFFFFFFFFFFFFFFF
    with open(path, "rb") as f:
        data = f.read()
    for b in data:
        h = ((h ^ b) * prime) & mask
    return f"{h:016x}"


def dump_json(obj, indent: int = 0) -> str:
    """Indented JSON with every list of scalars (token ids, args) kept on one line."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(k)}: {dump_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [pad + dump_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(obj)


def run_synth(fathom: Path, args: list[str], out: Path) -> None:
    subprocess.run([str(fathom), "synth", *args, "--out", str(out)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def load_checkpoint(model_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of the model dir's *.safetensors, FP8 ones with their weight_scale_inv."""
    tensors: dict[str, torch.Tensor] = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            for k in st.keys():
                tensors[k] = st.get_tensor(k)
    return tensors


def dequant_fp8(w: torch.Tensor, scale_inv: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """DeepSeek's block dequantization in float32; edge blocks may be partial."""
    rows, cols = w.shape
    br, bc = block
    srows, scols = scale_inv.shape
    assert srows == -(-rows // br) and scols == -(-cols // bc), (w.shape, scale_inv.shape)
    s = scale_inv.to(torch.float32).repeat_interleave(br, 0)[:rows].repeat_interleave(bc, 1)[:, :cols]
    return w.to(torch.float32) * s


def to_f32_state(ckpt: dict[str, torch.Tensor], config: dict) -> tuple[dict[str, torch.Tensor], int]:
    """Checkpoint tensors as float32; FP8 weights dequantized and their scales dropped."""
    qc = config.get("quantization_config")
    out: dict[str, torch.Tensor] = {}
    n_fp8 = 0
    for k, t in ckpt.items():
        if k.endswith(".weight_scale_inv"):
            continue
        if t.dtype == torch.float8_e4m3fn:
            assert qc and qc.get("quant_method") == "fp8" and qc.get("fmt") == "e4m3", qc
            out[k] = dequant_fp8(t, ckpt[k + "_scale_inv"], tuple(qc["weight_block_size"]))
            n_fp8 += 1
        else:
            assert t.dtype in (torch.float32, torch.bfloat16), (k, t.dtype)
            out[k] = t.to(torch.float32)  # bf16 -> f32 is exact
    for k in ckpt:
        if k.endswith(".weight_scale_inv"):
            assert k[: -len("_scale_inv")] in out, k
    return out, n_fp8


def mtp_prefix(config: dict) -> str | None:
    if config.get("model_type") == "deepseek_v3" and config.get("num_nextn_predict_layers", 0) > 0:
        return f"model.layers.{config['num_hidden_layers']}."
    return None


def verify_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], config: dict, info: dict) -> dict:
    """Fails unless transformers used every checkpoint tensor and initialized nothing itself."""
    mtp = mtp_prefix(config)
    problems = []
    if info.get("missing_keys"):
        problems.append(f"missing keys: {sorted(info['missing_keys'])}")
    if info.get("mismatched_keys"):
        problems.append(f"mismatched keys: {sorted(info['mismatched_keys'])}")
    if info.get("error_msgs"):
        problems.append(f"load errors: {info['error_msgs']}")
    unexpected = sorted(info.get("unexpected_keys") or [])
    bad_unexpected = [k for k in unexpected if not (mtp and k.startswith(mtp))]
    if bad_unexpected:
        problems.append(f"unexpected keys: {bad_unexpected}")

    # Independent check: every parameter and persistent buffer must equal the
    # checkpoint tensor(s) it comes from, bit for bit.
    used: set[str] = set()
    expert_re = re.compile(r"^(.*\.mlp\.experts)\.(gate_up_proj|down_proj)$")
    n_checked = 0
    for name, value in model.state_dict().items():
        m = expert_re.match(name)
        if m:
            prefix, kind = m.groups()
            n = value.shape[0]
            parts = []
            for e in range(n):
                if kind == "gate_up_proj":
                    keys = [f"{prefix}.{e}.gate_proj.weight", f"{prefix}.{e}.up_proj.weight"]
                else:
                    keys = [f"{prefix}.{e}.down_proj.weight"]
                missing = [k for k in keys if k not in state]
                if missing:
                    problems.append(f"{name}: no checkpoint tensor {missing}")
                    break
                parts.append(torch.cat([state[k] for k in keys], dim=0))
                used.update(keys)
            else:
                expected = torch.stack(parts)
                if expected.shape != value.shape or not torch.equal(expected, value):
                    problems.append(f"{name} differs from the stacked checkpoint experts")
            n_checked += 1
            continue
        src = name
        if name not in state and name == "lm_head.weight" and config.get("tie_word_embeddings"):
            src = "model.embed_tokens.weight"
        if src not in state:
            problems.append(f"{name}: not in the checkpoint (transformers initialized it)")
            continue
        used.add(src)
        if state[src].shape != value.shape or not torch.equal(state[src], value):
            problems.append(f"{name} differs from checkpoint {src}")
        n_checked += 1
    unused = sorted(k for k in state if k not in used)
    bad_unused = [k for k in unused if not (mtp and k.startswith(mtp))]
    if bad_unused:
        problems.append(f"checkpoint tensors the model does not use: {bad_unused}")
    if problems:
        raise SystemExit("weight check failed:\n  " + "\n  ".join(problems))
    return {"checked_tensors": n_checked, "ignored_mtp_tensors": len(unused)}


def draw_tokens(rng: np.random.Generator, n: int, vocab: int, bos_first: bool = False) -> list[int]:
    t = rng.integers(0, vocab, size=n).tolist()
    if bos_first:
        t[0] = BOS
    return [int(x) for x in t]


@torch.no_grad()
def forward_logits(model, tokens: list[int]) -> torch.Tensor:
    out = model(input_ids=torch.tensor([tokens]), use_cache=False)
    return out.logits[0].to(torch.float32)


@torch.no_grad()
def greedy_decode(model, prompt: list[int], n: int) -> tuple[list[int], torch.Tensor]:
    """Argmax loop with a KV cache; returns the tokens and the logits each was picked from."""
    cache = DynamicCache(config=model.config)
    out = model(input_ids=torch.tensor([prompt]), past_key_values=cache, use_cache=True)
    rows = [out.logits[0, -1].to(torch.float32)]
    tokens = []
    for i in range(n):
        tok = int(torch.argmax(rows[-1]))
        tokens.append(tok)
        if i + 1 == n:
            break
        out = model(input_ids=torch.tensor([[tok]]), past_key_values=out.past_key_values, use_cache=True)
        rows.append(out.logits[0, -1].to(torch.float32))
    return tokens, torch.stack(rows)


def top2_gaps(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    top = torch.topk(rows, 2, dim=-1).values
    gap = top[:, 0] - top[:, 1]
    return gap, gap / rows.abs().max(dim=-1).values


def max_rel_diff(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a - ref).abs().max() / ref.abs().max())


class RouterProbe:
    """Collects every MoE router's logits to measure how close each routing decision was.

    A decision that a 1e-6 numeric difference could flip would make a C++ comparison
    flaky, so the margins are recorded (and the run fails if one is below 1e-5).
    """

    MIN_MARGIN = 1e-5

    def __init__(self, model):
        self.logits: list[torch.Tensor] = []
        self.routers = [m for m in model.modules() if type(m).__name__.endswith("TopkRouter")]
        self.handles = [r.register_forward_hook(self._hook) for r in self.routers]

    def _hook(self, module, inputs, output):
        self.logits.append((module, output[0].detach().to(torch.float32)))

    def close(self):
        for h in self.handles:
            h.remove()

    def summary(self, config: dict) -> dict | None:
        if not self.logits:
            return None
        expert_margin = float("inf")
        group_margin = float("inf")
        zero_mask_agrees = True
        for module, logits in self.logits:
            k = module.top_k
            n_exp = logits.shape[-1]
            method = config.get("topk_method", "greedy")
            n_group = config.get("n_group") or 1
            topk_group = config.get("topk_group") or 1
            if method == "noaux_tc":
                scores = logits.sigmoid()
                choice = scores + module.e_score_correction_bias.to(torch.float32)
                gscore = choice.view(-1, n_group, n_exp // n_group).topk(2, dim=-1).values.sum(-1)
            else:
                choice = logits.softmax(dim=-1)
                gscore = choice.view(-1, n_group, n_exp // n_group).max(dim=-1).values
            if method in ("noaux_tc", "group_limited_greedy") and n_group > 1:
                gs = gscore.sort(dim=-1, descending=True).values
                group_margin = min(group_margin, float((gs[:, topk_group - 1] - gs[:, topk_group]).min()))
                gidx = gscore.topk(topk_group, dim=-1).indices
                gmask = torch.zeros_like(gscore).scatter_(1, gidx, 1.0).bool()
                emask = gmask.unsqueeze(-1).expand(-1, n_group, n_exp // n_group).reshape(-1, n_exp)
                fill = float("-inf") if method == "noaux_tc" else 0.0
                masked = choice.masked_fill(~emask, fill)
                if method == "noaux_tc":
                    # DeepSeek's remote modeling_deepseek.py masks with 0.0 instead of -inf.
                    zero = choice.masked_fill(~emask, 0.0)
                    a = masked.topk(k, dim=-1).indices.sort(dim=-1).values
                    b = zero.topk(k, dim=-1).indices.sort(dim=-1).values
                    zero_mask_agrees &= bool(torch.equal(a, b))
            else:
                masked = choice
            cs = masked.sort(dim=-1, descending=True).values
            expert_margin = min(expert_margin, float((cs[:, k - 1] - cs[:, k]).min()))
        out = {"min_expert_margin": expert_margin}
        if group_margin != float("inf"):
            out["min_group_margin"] = group_margin
        if config.get("topk_method") == "noaux_tc":
            out["remote_code_zero_mask_same_experts"] = zero_mask_agrees
        return out


def build_case(case: str, arch: str, preset: str, dtype: str, fathom: Path, out_dir: Path, work: Path) -> dict:
    args = synth_args(arch, preset, dtype)
    model_dir = work / case
    run_synth(fathom, args, model_dir)
    again = work / (case + ".again")
    run_synth(fathom, args, again)
    hashes = {f.name: fnv1a64(f) for f in sorted(model_dir.glob("*.safetensors"))}
    hashes_again = {f.name: fnv1a64(f) for f in sorted(again.glob("*.safetensors"))}
    if hashes != hashes_again:
        raise SystemExit(f"{case}: fathom synth is not deterministic ({hashes} vs {hashes_again})")
    shutil.rmtree(again)

    config = json.loads((model_dir / "config.json").read_text())
    ckpt = load_checkpoint(model_dir)
    state, n_fp8 = to_f32_state(ckpt, config)
    load_dir = model_dir
    notes = []
    fp8_note = None
    if dtype == "fp8":
        assert n_fp8 > 0, "fp8 case without FP8 tensors"
        load_dir = work / (case + ".dequant")
        load_dir.mkdir()
        cfg = dict(config)
        qc = cfg.pop("quantization_config")
        cfg["torch_dtype"] = "float32"
        (load_dir / "config.json").write_text(json.dumps(cfg, indent=2))
        save_file({k: v.contiguous() for k, v in state.items()}, str(load_dir / "model.safetensors"),
                  metadata={"format": "pt"})
        fp8_note = (
            f"Dequantized in Python before loading ({n_fp8} F8_E4M3 tensors, block {qc['weight_block_size']}): "
            "w_f32 = float32(w_fp8) * weight_scale_inv[i // 128, j // 128] computed in float32, ragged edge blocks "
            "use their block's scale; quantization_config dropped from the config given to transformers "
            "(transformers' FP8 path needs a GPU; on CPU it falls back to its own dequantization, which fails on "
            "this checkpoint's ragged blocks with a weight-conversion error). "
            "Activations stay float32 (no FP8 activation quantization)."
        )
    else:
        assert n_fp8 == 0

    model, info = AutoModelForCausalLM.from_pretrained(
        str(load_dir), dtype=torch.float32, attn_implementation="eager", output_loading_info=True,
        trust_remote_code=False,
    )
    model.eval()
    mod = type(model).__module__
    if not mod.startswith("transformers.models."):
        raise SystemExit(f"{case}: {type(model).__name__} from {mod}, not a native transformers class")
    check = verify_weights(model, state, config, info)
    if model.dtype != torch.float32 or model.config._attn_implementation != "eager":
        raise SystemExit(f"{case}: model is {model.dtype}, {model.config._attn_implementation}")
    if check["ignored_mtp_tensors"]:
        notes.append(f"{check['ignored_mtp_tensors']} MTP tensors (model.layers.{config['num_hidden_layers']}.*) "
                     "are in the checkpoint; transformers does not use them, so these logits do not either.")

    probe = RouterProbe(model)
    vocab = int(config["vocab_size"])
    rng = np.random.default_rng(TOKEN_SEED)
    seqs = [draw_tokens(rng, n, vocab, bos_first=(n == 40)) for n in SEQ_LENGTHS]
    rows = []
    seq_meta = []
    offset = 0
    for toks in seqs:
        lg = forward_logits(model, toks)
        assert lg.shape == (len(toks), vocab)
        rows.append(lg)
        seq_meta.append({"tokens": toks, "row_offset": offset})
        offset += len(toks)
    all_logits = torch.cat(rows).numpy().astype("<f4")
    seq_probe = list(probe.logits)
    assert np.isfinite(all_logits).all()

    prompt = seqs[SEQ_LENGTHS.index(GREEDY_PROMPT_LEN)]
    draw = 0
    while True:
        tokens, step_rows = greedy_decode(model, prompt, GREEDY_NEW_TOKENS)
        gap, rel_gap = top2_gaps(step_rows)
        if float(rel_gap.min()) >= MIN_REL_GAP:
            break
        draw += 1
        if draw > MAX_PROMPT_DRAWS:
            raise SystemExit(f"{case}: no prompt with a clear greedy continuation in {MAX_PROMPT_DRAWS} draws")
        prompt = draw_tokens(rng, GREEDY_PROMPT_LEN, vocab)
    probe.logits.clear()  # margins from the final prompt's no-cache pass, not rejected draws
    probe.logits.extend(seq_probe)
    full = forward_logits(model, prompt + tokens)
    routing = probe.summary(config)
    probe.close()
    if routing and min(v for v in (routing["min_expert_margin"], routing.get("min_group_margin", 1.0))) \
            < RouterProbe.MIN_MARGIN:
        raise SystemExit(f"{case}: a routing decision is within {RouterProbe.MIN_MARGIN} of a tie: {routing}")
    nocache_rows = full[len(prompt) - 1: len(prompt) - 1 + GREEDY_NEW_TOKENS]
    cache_diff = max_rel_diff(step_rows, nocache_rows)
    if cache_diff > CACHE_CHECK_TOL or torch.argmax(nocache_rows, -1).tolist() != tokens:
        raise SystemExit(f"{case}: cached decode differs from the no-cache forward (max rel diff {cache_diff:.3g})")

    stem = out_dir / case
    (stem.parent / (case + ".logits.f32")).write_bytes(all_logits.tobytes())
    meta = {
        "case": case,
        "arch": arch,
        "preset": preset,
        "seed": SEED,
        "dtype": dtype,
        "synth_args": args,
        "checkpoint_fnv1a64": hashes,
        "vocab_size": vocab,
        "logits_file": case + ".logits.f32",
        "sequences": seq_meta,
        "greedy": {
            "prompt": prompt,
            "prompt_redraws": draw,
            "tokens": tokens,
            "min_top2_gap": float(gap.min()),
            "min_top2_gap_rel": float(rel_gap.min()),
            "cache_vs_nocache_max_rel_diff": cache_diff,
        },
        **({"routing": routing} if routing else {}),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "transformers_class": f"{mod}.{type(model).__name__}",
        "token_rng": f"numpy.random.default_rng({TOKEN_SEED}).integers(0, vocab_size, n) for n in "
                     f"{list(SEQ_LENGTHS)} in order (the 40-token one gets token 0 = bos at position 0); "
                     f"greedy prompt redraws continue the same stream with n = {GREEDY_PROMPT_LEN}",
        "notes": notes,
    }
    if fp8_note:
        meta["fp8_dequant"] = fp8_note
    gguf_meta = stem.with_suffix(".json")
    if gguf_meta.exists():  # keep the "gguf" entry convert_gguf.py adds
        old = json.loads(gguf_meta.read_text())
        if "gguf" in old:
            meta["gguf"] = old["gguf"]
    (out_dir / (case + ".json")).write_text(dump_json(meta) + "\n")
    print(f"{case}: {len(all_logits)} rows, greedy min gap {float(gap.min()):.4g} "
          f"(rel {float(rel_gap.min()):.3g}, redraws {draw}), cache vs no-cache {cache_diff:.3g}, "
          f"{check['checked_tensors']} tensors verified, routing {routing}", flush=True)
    return meta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fathom", type=Path, default=ROOT / "build/release/fathom")
    ap.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/logits")
    ap.add_argument("--case", action="append", help="only these cases (default: all)")
    ap.add_argument("--keep", type=Path, help="write the synthesized models under this folder and keep them")
    a = ap.parse_args()
    if not a.fathom.exists():
        raise SystemExit(f"no fathom binary at {a.fathom} (build it, or pass --fathom)")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    a.out.mkdir(parents=True, exist_ok=True)
    selected = [c for c in CASES if not a.case or c[0] in a.case]
    if a.case and len(selected) != len(a.case):
        raise SystemExit(f"unknown case in {a.case}; cases: {[c[0] for c in CASES]}")
    with tempfile.TemporaryDirectory(prefix="fathom-ref-") as tmp:
        work = a.keep if a.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for case, arch, preset, dtype in selected:
            for p in (work / case, work / (case + ".again"), work / (case + ".dequant")):
                shutil.rmtree(p, ignore_errors=True)
            build_case(case, arch, preset, dtype, a.fathom, a.out, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
