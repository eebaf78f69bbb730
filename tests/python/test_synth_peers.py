"""`fathom synth` output, read by the reference libraries: Hugging Face
`tokenizers` loads the tokenizer, `jinja2` renders the chat template the way
transformers' apply_chat_template does, and `safetensors` reads the weights."""
import json
import os
import pathlib
import subprocess

import jinja2
import numpy as np
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from safetensors import safe_open
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
FATHOM = ROOT / "build" / "release" / "fathom"
SHARED = ROOT.parent / "shared"

pytestmark = pytest.mark.skipif(not FATHOM.exists(), reason="build/release/fathom not built")

TINY = [("llama", "tiny"), ("llama", "tiny-tied"), ("qwen2", "tiny"), ("qwen2", "tiny-tied"),
        ("deepseek_v2", "tiny"), ("deepseek_v2", "tiny-grouped"), ("deepseek_v3", "tiny")]


def synth(tmp_path, arch, preset, *extra):
    out = tmp_path / f"{arch}-{preset}"
    subprocess.run([str(FATHOM), "synth", "--quiet", "--arch", arch, "--preset", preset, "--out", str(out), *extra],
                   check=True)
    return out


def render(template, **variables):
    # As transformers renders chat templates.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = lambda m: (_ for _ in ()).throw(jinja2.exceptions.TemplateError(m))
    return env.from_string(template).render(**variables)


@pytest.mark.parametrize("arch,preset", TINY)
def test_weights_load_in_safetensors(tmp_path, arch, preset):
    model = synth(tmp_path, arch, preset, "--dtype", "f32")
    config = json.loads((model / "config.json").read_text())
    info = json.loads(subprocess.run([str(FATHOM), "inspect", str(model)], check=True, capture_output=True,
                                     text=True).stdout)
    total = 0
    with safe_open(str(model / "model.safetensors"), framework="numpy") as f:
        names = list(f.keys())
        for name in names:
            t = f.get_tensor(name)
            assert t.dtype == np.float32
            assert np.isfinite(t).all()
            total += t.size
        emb = f.get_tensor("model.embed_tokens.weight")
        assert emb.shape == (config["vocab_size"], config["hidden_size"])
        norm = f.get_tensor("model.norm.weight")
        assert abs(float(norm.mean()) - 1.0) < 0.1  # norms start near one
    assert total == info["parameters"]
    assert len(names) == info["num_tensors"]


def test_bf16_is_f32_rounded_to_nearest_even(tmp_path):
    a = synth(tmp_path, "qwen2", "tiny", "--dtype", "f32", "--seed", "3")
    b = synth(tmp_path / "b", "qwen2", "tiny", "--dtype", "bf16", "--seed", "3")
    with safe_open(str(a / "model.safetensors"), framework="numpy") as fa:
        x = fa.get_tensor("model.layers.0.self_attn.q_proj.weight")
    with safe_open(str(b / "model.safetensors"), framework="np") as fb:
        meta = fb.metadata()
    raw = (b / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    begin, end = header["model.layers.0.self_attn.q_proj.weight"]["data_offsets"]
    got = np.frombuffer(raw[8 + header_len + begin:8 + header_len + end], dtype=np.uint16).reshape(x.shape)
    bits = x.view(np.uint32).astype(np.uint64)
    want = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    assert header["model.layers.0.self_attn.q_proj.weight"]["dtype"] == "BF16"
    assert meta == {"format": "pt"}
    np.testing.assert_array_equal(got, want)


def test_builtin_tokenizer_loads_in_hf_tokenizers(tmp_path):
    model = synth(tmp_path, "qwen2", "tiny")
    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    config = json.loads((model / "config.json").read_text())
    assert tok.get_vocab_size() == config["vocab_size"] == 512
    text = "The quick brown fox jumps over the lazy dog. 1234 ünïcödé 你好\n\tdef main():"
    enc = tok.encode(text, add_special_tokens=False)
    assert tok.decode(enc.ids) == text
    assert len(enc.ids) < len(text.encode())  # merges are in use
    assert tok.token_to_id("<｜begin▁of▁sentence｜>") == config["bos_token_id"] == 0
    assert tok.token_to_id("<｜end▁of▁sentence｜>") == config["eos_token_id"] == 1
    ids = tok.encode("<｜User｜>hi<｜Assistant｜>", add_special_tokens=False).ids
    assert ids[0] == tok.token_to_id("<｜User｜>") and ids[-1] == tok.token_to_id("<｜Assistant｜>")


def test_builtin_chat_template_renders_deepseek_format(tmp_path):
    model = synth(tmp_path, "deepseek_v3", "tiny")
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "<think>easy</think>It is sunny."},
        {"role": "user", "content": "Thanks"},
    ]
    got = render(cfg["chat_template"], messages=messages, bos_token="<｜begin▁of▁sentence｜>",
                 add_generation_prompt=True)
    want = ("<｜begin▁of▁sentence｜>Be brief.<｜User｜>Weather?<｜Assistant｜><｜tool▁calls▁begin｜>"
            "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```"
            "<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜>"
            "<｜tool▁output▁begin｜>sunny<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is sunny."
            "<｜end▁of▁sentence｜><｜User｜>Thanks<｜Assistant｜>")
    assert got == want


def test_distill_template_opens_think_block(tmp_path):
    model = synth(tmp_path, "llama", "tiny")
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    got = render(cfg["chat_template"], messages=[{"role": "user", "content": "2+2?"}],
                 bos_token="<｜begin▁of▁sentence｜>", add_generation_prompt=True)
    assert got == "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n"


@pytest.mark.skipif(not (SHARED / "models/tokenizers/deepseek-v3").exists(), reason="shared folder missing")
def test_real_tokenizer_sets_vocab_and_special_ids(tmp_path):
    model = synth(tmp_path, "deepseek_v3", "tiny", "--tokenizer", str(SHARED / "models/tokenizers/deepseek-v3"))
    config = json.loads((model / "config.json").read_text())
    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    assert config["vocab_size"] >= tok.get_vocab_size()
    assert config["bos_token_id"] == tok.token_to_id("<｜begin▁of▁sentence｜>")
    assert config["eos_token_id"] == tok.token_to_id("<｜end▁of▁sentence｜>")
    with safe_open(str(model / "model.safetensors"), framework="numpy") as f:
        assert f.get_slice("model.embed_tokens.weight").get_shape()[0] == config["vocab_size"]
