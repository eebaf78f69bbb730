"""`fathom quantize` output read by the reference reader, gguf.GGUFReader.

Synthesizes tiny models with build/release/fathom, quantizes them, and checks the
keys llama.cpp needs, each tensor's ggml type and shape, and (through gguf-py's
own dequantizers) that the stored values are the Hugging Face tensors: exactly
at F32, with llama's q/k rows permuted as convert_hf_to_gguf.py permutes them,
and within Q8_0's rounding at Q8_0. Skips when the binary has not been built.

  .venv/bin/python -m pytest tests/python/test_quantize_gguf.py
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
safetensors_numpy = pytest.importorskip("safetensors.numpy")
from gguf import GGMLQuantizationType as QT  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FATHOM = ROOT / "build" / "release" / "fathom"

pytestmark = pytest.mark.skipif(not FATHOM.exists(), reason="build/release/fathom not built")


def synth(tmp: Path, arch: str, preset: str) -> Path:
    out = tmp / f"{arch}-{preset}"
    subprocess.run([str(FATHOM), "synth", "--arch", arch, "--preset", preset, "--out", str(out), "--dtype", "f32",
                    "--quiet"], check=True)
    return out


def quantize(model: Path, out: Path, qtype: str) -> gguf.GGUFReader:
    subprocess.run([str(FATHOM), "quantize", str(model), str(out), qtype, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    return gguf.GGUFReader(out)


def value(reader: gguf.GGUFReader, key: str):
    field = reader.get_field(key)
    assert field is not None, key
    return field.contents()


def hf_tensors(model: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for f in sorted(model.glob("*.safetensors")):
        out.update(safetensors_numpy.load_file(f))
    return out


def as_float(t) -> np.ndarray:
    """The tensor's values in row-major (PyTorch) shape, dequantized by gguf-py."""
    data = gguf.quants.dequantize(t.data, t.tensor_type)
    return np.asarray(data, dtype=np.float32).reshape(list(reversed([int(d) for d in t.shape])))


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # convert_hf_to_gguf.py's LlamaModel.permute, restated.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_llama_f32_holds_the_permuted_weights(tmp_path: Path) -> None:
    model = synth(tmp_path, "llama", "tiny")
    reader = quantize(model, tmp_path / "f32.gguf", "f32")
    config = json.loads((model / "config.json").read_text())
    assert value(reader, "general.architecture") == "llama"
    assert value(reader, "general.file_type") == gguf.LlamaFileType.ALL_F32
    assert value(reader, "general.quantization_version") == 2
    assert value(reader, "llama.block_count") == config["num_hidden_layers"]
    assert value(reader, "llama.attention.head_count_kv") == config["num_key_value_heads"]
    assert value(reader, "tokenizer.ggml.model") == "gpt2"
    assert value(reader, "tokenizer.ggml.pre") == "llama-bpe"
    assert len(value(reader, "tokenizer.ggml.tokens")) == config["vocab_size"]
    tensors = {t.name: t for t in reader.tensors}
    hf = hf_tensors(model)
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    np.testing.assert_array_equal(as_float(tensors["blk.0.attn_q.weight"]),
                                  permute(hf["model.layers.0.self_attn.q_proj.weight"], heads))
    np.testing.assert_array_equal(as_float(tensors["blk.1.attn_k.weight"]),
                                  permute(hf["model.layers.1.self_attn.k_proj.weight"], kv_heads))
    np.testing.assert_array_equal(as_float(tensors["blk.0.attn_v.weight"]), hf["model.layers.0.self_attn.v_proj.weight"])
    # llama3 rope scaling travels as rope_freqs, one factor per rotated pair:
    # the converter's generate_extra_tensors for llama3, restated in NumPy.
    head_dim = config["hidden_size"] // heads
    assert list(tensors["rope_freqs.weight"].shape) == [head_dim // 2]
    rs = config["rope_scaling"]
    old_ctx = rs["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_ctx / rs["low_freq_factor"], old_ctx / rs["high_freq_factor"]
    freqs = 1.0 / (config["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    want = []
    for freq in freqs:
        wavelen = 2 * np.pi / freq
        if wavelen < high_wavelen:
            want.append(1.0)
        elif wavelen > low_wavelen:
            want.append(rs["factor"])
        else:
            smooth = (old_ctx / wavelen - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
            want.append(1.0 / ((1 - smooth) / rs["factor"] + smooth))
    np.testing.assert_allclose(as_float(tensors["rope_freqs.weight"]), np.array(want, dtype=np.float32), rtol=1e-6)


def test_deepseek_v3_q8_0_layout(tmp_path: Path) -> None:
    model = synth(tmp_path, "deepseek_v3", "tiny")
    reader = quantize(model, tmp_path / "q8.gguf", "q8_0")
    config = json.loads((model / "config.json").read_text())
    assert value(reader, "general.architecture") == "deepseek2"
    assert value(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_Q8_0
    assert value(reader, "deepseek2.attention.head_count_kv") == 1
    assert value(reader, "deepseek2.attention.kv_lora_rank") == config["kv_lora_rank"]
    assert value(reader, "deepseek2.attention.key_length_mla") == config["qk_nope_head_dim"] + config["qk_rope_head_dim"]
    assert value(reader, "deepseek2.expert_gating_func") == 2
    assert value(reader, "deepseek2.expert_count") == config["n_routed_experts"]
    tensors = {t.name: t for t in reader.tensors}
    n_layers, n_exp = config["num_hidden_layers"], config["n_routed_experts"]
    assert f"blk.{n_layers}.attn_norm.weight" not in tensors  # MTP layer dropped, as the converter does
    h, inter, r = config["hidden_size"], config["moe_intermediate_size"], config["kv_lora_rank"]
    nh, nope, vd = config["num_attention_heads"], config["qk_nope_head_dim"], config["v_head_dim"]
    assert [int(d) for d in tensors["blk.1.ffn_gate_exps.weight"].shape] == [h, inter, n_exp]
    assert [int(d) for d in tensors["blk.1.ffn_down_exps.weight"].shape] == [inter, h, n_exp]
    assert [int(d) for d in tensors["blk.0.attn_k_b.weight"].shape] == [nope, r, nh]
    assert [int(d) for d in tensors["blk.0.attn_v_b.weight"].shape] == [r, vd, nh]
    assert "blk.0.attn_kv_b.weight" not in tensors
    assert tensors["blk.1.ffn_gate_inp.weight"].tensor_type == QT.F32
    assert tensors["blk.1.exp_probs_b.bias"].tensor_type == QT.F32
    assert tensors["blk.0.attn_norm.weight"].tensor_type == QT.F32
    assert tensors["blk.1.ffn_up_exps.weight"].tensor_type == QT.Q8_0
    assert tensors["output.weight"].tensor_type == QT.Q8_0

    hf = hf_tensors(model)
    # Expert 3 of layer 1, dequantized by gguf-py, is the HF expert within Q8_0 rounding.
    got = as_float(tensors["blk.1.ffn_up_exps.weight"])[3]
    want = hf["model.layers.1.mlp.experts.3.up_proj.weight"]
    assert np.max(np.abs(got - want)) <= np.max(np.abs(want)) / 127 + 1e-6
    # attn_k_b is W_UK per head, transposed; attn_v_b is W_UV per head.
    kv_b = hf["model.layers.0.self_attn.kv_b_proj.weight"].reshape(nh, nope + vd, r)
    k_b = as_float(tensors["blk.0.attn_k_b.weight"])
    assert np.max(np.abs(k_b - kv_b[:, :nope, :].transpose(0, 2, 1))) <= np.max(np.abs(kv_b)) / 100
    v_b = as_float(tensors["blk.0.attn_v_b.weight"])
    assert np.max(np.abs(v_b - kv_b[:, nope:, :])) <= np.max(np.abs(kv_b)) / 100


def test_k256_q4_k_types(tmp_path: Path) -> None:
    model = synth(tmp_path, "llama", "small-k256")
    reader = quantize(model, tmp_path / "q4k.gguf", "q4_k")
    assert value(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_Q4_K_M
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == QT.Q4_K
    assert types["blk.1.ffn_down.weight"] == QT.Q4_K
    assert types["output.weight"] == QT.Q6_K
    assert types["blk.0.ffn_norm.weight"] == QT.F32
