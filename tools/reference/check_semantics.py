#!/usr/bin/env python3
"""An independent float64 NumPy forward pass, written from the written-down semantics,
checked against the committed transformers fixtures.

It re-synthesizes each case with `fathom synth <synth_args>`, reads the safetensors
file itself (F32, BF16, F8_E4M3 + 128x128 weight_scale_inv), runs every fixture
sequence through a plain implementation of the architecture and reports
max |ours - transformers| / max |transformers| per case. It needs no torch (NumPy
only), so it also runs in the main .venv. It exists to check the semantic notes the
C++ forward pass is written from (rope layouts, YaRN, MLA, MoE routing), and with
--variants it shows that the fixtures tell each documented choice from the obvious
wrong one (the error jumps by orders of magnitude when a choice is flipped).

Usage: python tools/reference/check_semantics.py [--fathom PATH] [--case NAME ...] [--variants]
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/logits"


# ---------------------------------------------------------------- checkpoint

def fp8_e4m3_table() -> np.ndarray:
    t = np.zeros(256, dtype=np.float64)
    for b in range(256):
        s = -1.0 if b & 0x80 else 1.0
        e = (b >> 3) & 0xF
        m = b & 0x7
        if e == 0xF and m == 0x7:
            t[b] = np.nan  # e4m3fn: no infinities, one NaN pattern per sign
        elif e == 0:
            t[b] = s * (m / 8.0) * 2.0 ** -6
        else:
            t[b] = s * (1.0 + m / 8.0) * 2.0 ** (e - 7)
    return t


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    fp8 = fp8_e4m3_table()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = data[a:b]
        shape = info["shape"]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(buf, dtype="<f4").astype(np.float64)
        elif dt == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif dt == "F8_E4M3":
            arr = fp8[np.frombuffer(buf, dtype=np.uint8)]
        else:
            raise ValueError(f"{name}: dtype {dt}")
        out[name] = arr.reshape(shape)
    return out


def dequantize(t: dict[str, np.ndarray], block: int = 128) -> dict[str, np.ndarray]:
    out = {}
    for k, v in t.items():
        if k.endswith("_scale_inv"):
            continue
        s = t.get(k + "_scale_inv")
        if s is not None:
            # float32 product, as DeepSeek's reference computes it
            s_full = np.repeat(np.repeat(s, block, 0), block, 1)[: v.shape[0], : v.shape[1]]
            v = (v.astype(np.float32) * s_full.astype(np.float32)).astype(np.float64)
        out[k] = v
    return out


# ---------------------------------------------------------------- building blocks

def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def linear(t: dict, name: str, x: np.ndarray) -> np.ndarray:
    y = x @ t[name + ".weight"].T
    b = t.get(name + ".bias")
    return y + b if b is not None else y


def mlp(t: dict, prefix: str, x: np.ndarray) -> np.ndarray:
    return linear(t, prefix + ".down_proj", silu(linear(t, prefix + ".gate_proj", x)) * linear(t, prefix + ".up_proj", x))


def get_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_params(cfg: dict, dim: int, v: dict) -> tuple[np.ndarray, float]:
    """(inv_freq over dim/2 frequencies, factor applied to cos and sin)."""
    base = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default" or v.get("no_rope_scaling"):
        return inv, 1.0
    factor = float(rs["factor"])
    if kind == "linear":
        return inv / factor, 1.0
    if kind == "llama3":
        orig = rs["original_max_position_embeddings"]
        lo, hi = rs["low_freq_factor"], rs["high_freq_factor"]
        wavelen = 2 * math.pi / inv
        out = np.where(wavelen > orig / lo, inv / factor, inv)
        smooth = (orig / wavelen - lo) / (hi - lo)
        mid = ~(wavelen < orig / hi) & ~(wavelen > orig / lo)
        return np.where(mid, (1 - smooth) * out / factor + smooth * out, out), 1.0
    if kind == "yarn":
        orig = rs["original_max_position_embeddings"]
        beta_fast = rs.get("beta_fast") or 32
        beta_slow = rs.get("beta_slow") or 1

        def corr_dim(rot):
            return dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))

        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
        extra = inv
        inter = inv / factor
        inv_y = inter * ramp + extra * (1 - ramp)
        m, m_all = rs.get("mscale"), rs.get("mscale_all_dim")
        att = get_mscale(factor, m) / get_mscale(factor, m_all) if (m and m_all) else get_mscale(factor)
        if v.get("no_yarn_cos_scale"):
            att = 1.0
        return inv_y, att
    raise ValueError(kind)


def rope_half(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """rotate_half layout: dim i pairs with dim i + d/2 (x: [..., seq, d], cos/sin: [seq, d/2])."""
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def rope_interleaved(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Interleaved layout: dims (2i, 2i+1) form pair i. Output keeps the interleaved layout."""
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = b * cos + a * sin
    return out


def causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """q: [H, S, d], k: [H, S, d], v: [H, S, dv] -> [S, H*dv]."""
    s = np.einsum("hid,hjd->hij", q, k) * scale
    n = s.shape[-1]
    s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
    o = np.einsum("hij,hjd->hid", softmax(s), v)
    return o.transpose(1, 0, 2).reshape(n, -1)


# ---------------------------------------------------------------- architectures

def dense_attention(t, cfg, p, x, pos, v):
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    q = linear(t, p + ".q_proj", x).reshape(len(pos), nh, hd).transpose(1, 0, 2)
    k = linear(t, p + ".k_proj", x).reshape(len(pos), nkv, hd).transpose(1, 0, 2)
    val = linear(t, p + ".v_proj", x).reshape(len(pos), nkv, hd).transpose(1, 0, 2)
    inv, att = rope_params(cfg, hd, v)
    ang = pos[:, None] * inv[None, :]
    rope = rope_interleaved if v.get("interleave") else rope_half
    q, k = rope(q, np.cos(ang) * att, np.sin(ang) * att), rope(k, np.cos(ang) * att, np.sin(ang) * att)
    rep = nh // nkv
    k, val = np.repeat(k, rep, axis=0), np.repeat(val, rep, axis=0)  # head h uses kv head h // rep
    return linear(t, p + ".o_proj", causal_attention(q, k, val, hd ** -0.5))


def mla_attention(t, cfg, p, x, pos, v):
    nh = cfg["num_attention_heads"]
    nope, rd, vd, rank = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"], cfg["kv_lora_rank"]
    n = len(pos)
    if cfg.get("q_lora_rank"):
        q = linear(t, p + ".q_b_proj", rms_norm(linear(t, p + ".q_a_proj", x), t[p + ".q_a_layernorm.weight"], 1e-6))
    else:
        q = linear(t, p + ".q_proj", x)
    q = q.reshape(n, nh, nope + rd).transpose(1, 0, 2)
    q_nope, q_rot = q[..., :nope], q[..., nope:]
    ckv = linear(t, p + ".kv_a_proj_with_mqa", x)
    c, k_rot = ckv[:, :rank], ckv[:, rank:]
    kv = linear(t, p + ".kv_b_proj", rms_norm(c, t[p + ".kv_a_layernorm.weight"], 1e-6))
    kv = kv.reshape(n, nh, nope + vd).transpose(1, 0, 2)
    k_nope, val = kv[..., :nope], kv[..., nope:]
    inv, att = rope_params(cfg, rd, v)
    ang = pos[:, None] * inv[None, :]
    rope = rope_half if v.get("rotate_half") else rope_interleaved
    q_rot = rope(q_rot, np.cos(ang) * att, np.sin(ang) * att)
    k_rot = rope(k_rot[None], np.cos(ang) * att, np.sin(ang) * att)  # one rope key shared by all heads
    qf = np.concatenate([q_nope, q_rot], axis=-1)
    kf = np.concatenate([k_nope, np.repeat(k_rot, nh, axis=0)], axis=-1)
    scale = (nope + rd) ** -0.5
    rs = cfg.get("rope_scaling") or {}
    if rs.get("mscale_all_dim") and not v.get("no_softmax_mscale"):
        scale *= get_mscale(rs["factor"], rs["mscale_all_dim"]) ** 2
    return linear(t, p + ".o_proj", causal_attention(qf, kf, val, scale))


def moe(t, cfg, p, x, v):
    E, k = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    method = cfg.get("topk_method", "greedy")
    G, TG = cfg.get("n_group") or 1, cfg.get("topk_group") or 1
    logits = x @ t[p + ".gate.weight"].T
    out = mlp(t, p + ".shared_experts", x)
    for i in range(x.shape[0]):
        if method == "noaux_tc":
            s = 1.0 / (1.0 + np.exp(-logits[i]))
            choice = s + t[p + ".gate.e_score_correction_bias"]
            gs = np.sort(choice.reshape(G, E // G), axis=-1)[:, -2:].sum(-1)  # sum of each group's top 2
            if v.get("group_max"):
                gs = choice.reshape(G, E // G).max(-1)
            keep = np.argsort(-gs, kind="stable")[:TG]
            mask = np.zeros(E, dtype=bool)
            for g in keep:
                mask[g * (E // G):(g + 1) * (E // G)] = True
            masked = np.where(mask, choice, -np.inf)
            idx = np.argsort(-masked, kind="stable")[:k]
            w = (choice if v.get("weights_from_corrected") else s)[idx]
            if cfg.get("norm_topk_prob") and not v.get("no_norm"):
                w = w / (w.sum() + 1e-20)
            w = w * cfg.get("routed_scaling_factor", 1.0)
        else:
            s = softmax(logits[i])
            if method == "group_limited_greedy":
                gs = s.reshape(G, E // G).max(-1)
                if v.get("group_top2"):
                    gs = np.sort(s.reshape(G, E // G), axis=-1)[:, -2:].sum(-1)
                keep = np.argsort(-gs, kind="stable")[:TG]
                mask = np.zeros(E, dtype=bool)
                for g in keep:
                    mask[g * (E // G):(g + 1) * (E // G)] = True
                s = np.where(mask, s, 0.0)
            idx = np.argsort(-s, kind="stable")[:k]
            w = s[idx]
            if v.get("v2_no_scale"):
                pass
            else:
                w = w * cfg.get("routed_scaling_factor", 1.0)  # native V2: always scaled, never normalized
        for wi, e in zip(w, idx):
            out[i] += wi * mlp(t, f"{p}.experts.{e}", x[i:i + 1])[0]
    return out


def forward(t: dict, cfg: dict, tokens: list[int], v: dict) -> np.ndarray:
    x = t["model.embed_tokens.weight"][tokens]
    pos = np.arange(len(tokens), dtype=np.float64)
    eps = cfg["rms_norm_eps"]
    deepseek = cfg["model_type"].startswith("deepseek")
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms_norm(x, t[p + ".input_layernorm.weight"], eps)
        attn = mla_attention if deepseek else dense_attention
        x = x + attn(t, cfg, p + ".self_attn", h, pos, v)
        h = rms_norm(x, t[p + ".post_attention_layernorm.weight"], eps)
        if deepseek and i >= cfg.get("first_k_dense_replace", 0):
            x = x + moe(t, cfg, p + ".mlp", h, v)
        else:
            x = x + mlp(t, p + ".mlp", h)
    x = rms_norm(x, t["model.norm.weight"], eps)
    head = t.get("lm_head.weight")
    if head is None or v.get("untie"):
        head = t["model.embed_tokens.weight"]
    return x @ head.T


VARIANTS = {  # name: (applies to, flags) -- each a plausible misreading of the semantics
    "rope interleaved (llama/qwen2)": (("llama", "qwen2"), {"interleave": True}),
    "rope rotate_half on rope dims (deepseek)": (("deepseek_v2", "deepseek_v3"), {"rotate_half": True}),
    "no YaRN at all": (("deepseek_v2", "deepseek_v3"), {"no_rope_scaling": True}),
    "no softmax-scale mscale_all_dim correction": (("deepseek_v2", "deepseek_v3"), {"no_softmax_mscale": True}),
    "V3 group score = max": (("deepseek_v3",), {"group_max": True}),
    "V3 weights from corrected scores": (("deepseek_v3",), {"weights_from_corrected": True}),
    "V3 no norm_topk_prob": (("deepseek_v3",), {"no_norm": True}),
    "V2 group score = top-2 sum": (("deepseek_v2",), {"group_top2": True}),
    "V2 routed_scaling_factor not applied": (("deepseek_v2",), {"v2_no_scale": True}),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fathom", type=Path, default=ROOT / "build/release/fathom")
    ap.add_argument("--case", action="append")
    ap.add_argument("--variants", action="store_true", help="also run each deliberate misreading")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    metas = sorted(FIXTURES.glob("*.json"))
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="fathom-sem-") as tmp:
        for mp in metas:
            meta = json.loads(mp.read_text())
            if a.case and meta["case"] not in a.case:
                continue
            d = Path(tmp) / meta["case"]
            subprocess.run([str(a.fathom), "synth", *meta["synth_args"], "--out", str(d)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cfg = json.loads((d / "config.json").read_text())
            t = {}
            for f in sorted(d.glob("*.safetensors")):
                t.update(read_safetensors(f))
            t = dequantize(t)
            ref = np.fromfile(FIXTURES / meta["logits_file"], dtype="<f4").reshape(-1, meta["vocab_size"])

            def err(v):
                e = 0.0
                for s in meta["sequences"]:
                    r = ref[s["row_offset"]: s["row_offset"] + len(s["tokens"])]
                    e = max(e, float(np.abs(forward(t, cfg, s["tokens"], v) - r).max() / np.abs(r).max()))
                return e

            e = err({})
            worst = max(worst, e)
            print(f"{meta['case']:16s} max rel err {e:.2e}", flush=True)
            if a.variants:
                for name, (archs, flags) in VARIANTS.items():
                    if cfg["model_type"] in archs:
                        print(f"    {name:45s} {err(flags):.2e}", flush=True)
    print(f"worst {worst:.2e} (tolerance {a.tol:g})")
    return 0 if worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
