"""Fixtures shared by the Python tests."""
import subprocess
import sys
import pathlib

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from server_util import FATHOM  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The default model of the quickstart: a tiny R1-Distill-Qwen-shaped model, built-in tokenizer."""
    if not FATHOM.exists():
        pytest.skip("build/release/fathom not built")
    out = tmp_path_factory.mktemp("models") / "tiny-qwen2"
    subprocess.run([str(FATHOM), "synth", "--quiet", "--arch", "qwen2", "--preset", "tiny", "--out", str(out),
                    "--seed", "0"], check=True)
    return out
