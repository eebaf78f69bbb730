"""fathom's GGUF writer checked by the reference reader, gguf.GGUFReader.

Runs the release test binary's GgufInteropTest.WriteSampleForPython with
FATHOM_INTEROP_DIR pointing at a temporary directory, then checks every key, value,
tensor name, type, shape and byte of the file against the sample defined in
tests/formats/gguf_test_util.h (mirrored below; change both together). Skips when
build/release/fathom_tests has not been built.

  .venv/bin/python -m pytest tests/python/test_gguf_interop.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as QT  # noqa: E402
from gguf import GGUFValueType as VT  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "build" / "release" / "fathom_tests"
sys.path.insert(0, str(ROOT / "tools"))

U64_MAX = 2**64 - 1
I64_MIN = -(2**63)

# (key, type, element type for arrays, value); nested arrays list their inner values.
SAMPLE_METADATA = [
    ("general.architecture", VT.STRING, None, "llama"),
    ("general.alignment", VT.UINT32, None, 64),
    ("test.u8", VT.UINT8, None, 255),
    ("test.i8", VT.INT8, None, -128),
    ("test.u16", VT.UINT16, None, 65535),
    ("test.i16", VT.INT16, None, -32768),
    ("test.u32", VT.UINT32, None, 4294967295),
    ("test.i32", VT.INT32, None, -(2**31)),
    ("test.f32", VT.FLOAT32, None, 0.15625),
    ("test.bool", VT.BOOL, None, True),
    ("test.string", VT.STRING, None, "héllo, wörld ✓"),
    ("test.u64", VT.UINT64, None, U64_MAX),
    ("test.i64", VT.INT64, None, I64_MIN),
    ("test.f64", VT.FLOAT64, None, -2.5e-300),
    ("test.empty_string", VT.STRING, None, ""),
    ("test.array.u8", VT.ARRAY, VT.UINT8, [0, 1, 254, 255]),
    ("test.array.i8", VT.ARRAY, VT.INT8, [-128, 0, 127]),
    ("test.array.u16", VT.ARRAY, VT.UINT16, [0, 65535]),
    ("test.array.i16", VT.ARRAY, VT.INT16, [-32768, 32767]),
    ("test.array.u32", VT.ARRAY, VT.UINT32, [7, 4294967295]),
    ("test.array.i32", VT.ARRAY, VT.INT32, [-1, 0, 1]),
    ("test.array.f32", VT.ARRAY, VT.FLOAT32, [0.5, -1.25, 3.0]),
    ("test.array.bool", VT.ARRAY, VT.BOOL, [True, False, True]),
    ("test.array.string", VT.ARRAY, VT.STRING, ["a", "", "ünïcode", "<0x0A>"]),
    ("test.array.u64", VT.ARRAY, VT.UINT64, [0, U64_MAX]),
    ("test.array.i64", VT.ARRAY, VT.INT64, [-1, 2**63 - 1]),
    ("test.array.f64", VT.ARRAY, VT.FLOAT64, [1e300, -0.125]),
    ("test.array.empty_i32", VT.ARRAY, VT.INT32, []),
    ("test.array.empty_string", VT.ARRAY, VT.STRING, []),
    ("test.array.nested", VT.ARRAY, VT.ARRAY, [(VT.INT32, [1, 2]), (VT.INT32, []), (VT.INT32, [3])]),
    ("test.array.nested_strings", VT.ARRAY, VT.ARRAY, [(VT.STRING, ["x", "y"]), (VT.STRING, ["z"])]),
]

# (name, ggml type, ne); bytes follow PatternByte in gguf_test_util.h.
SAMPLE_TENSORS = [
    ("t.f32", QT.F32, [4, 3]),
    ("t.f16", QT.F16, [8, 2]),
    ("t.bf16", QT.BF16, [4, 2]),
    ("t.q8_0", QT.Q8_0, [64, 2]),
    ("t.q4_k", QT.Q4_K, [256, 1]),
    ("t.i32", QT.I32, [5]),
    ("t.i8_3d", QT.I8, [3, 2, 2]),
]


def pattern_bytes(k: int, n: int) -> bytes:
    return bytes((i * 7 + k * 13 + 1) % 256 for i in range(n))


def nested_parts(field, start: int, count: int):
    """Decodes the arrays of an array-of-arrays field from parts[start:]: [(elem type, [values])]."""
    out, i = [], start
    for _ in range(count):
        sub_type = VT(int(field.parts[i][0]))
        n = int(field.parts[i + 1][0])
        i += 2
        values = []
        for _ in range(n):
            if sub_type == VT.STRING:
                values.append(bytes(field.parts[i + 1]).decode("utf-8"))
                i += 2
            else:
                values.append(field.parts[i].tolist()[0])
                i += 1
        out.append((sub_type, values))
    return out


@pytest.fixture(scope="module")
def fathom_file(tmp_path_factory) -> Path:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is not built (cmake --preset release && cmake --build --preset release)")
    out_dir = tmp_path_factory.mktemp("interop")
    env = dict(os.environ, FATHOM_INTEROP_DIR=str(out_dir))
    proc = subprocess.run([str(BINARY), "--gtest_filter=GgufInteropTest.WriteSampleForPython"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = out_dir / "written_by_fathom.gguf"
    assert path.exists(), proc.stdout
    return path


def test_metadata_read_by_gguf_py(fathom_file: Path):
    r = gguf.GGUFReader(str(fathom_file))
    fields = {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}
    assert list(fields) == [m[0] for m in SAMPLE_METADATA]
    assert r.fields["GGUF.version"].contents() == 3
    for key, vtype, etype, want in SAMPLE_METADATA:
        f = fields[key]
        assert f.types[0] == vtype, key
        if vtype != VT.ARRAY:
            assert f.contents() == want, key
            continue
        # parts: key length, key, value type, element type, count, elements...
        assert VT(int(f.parts[3][0])) == etype, key
        assert int(f.parts[4][0]) == len(want), key
        if etype == VT.ARRAY:
            assert nested_parts(f, 5, len(want)) == want, key
        else:
            assert f.contents() == want, key


def test_tensors_read_by_gguf_py(fathom_file: Path):
    r = gguf.GGUFReader(str(fathom_file))
    assert r.alignment == 64
    assert r.data_offset % 64 == 0
    assert [t.name for t in r.tensors] == [t[0] for t in SAMPLE_TENSORS]
    for k, (t, (name, qtype, ne)) in enumerate(zip(r.tensors, SAMPLE_TENSORS)):
        assert t.tensor_type == qtype, name
        assert [int(d) for d in t.shape] == ne, name
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        n_bytes = int(np.prod(ne)) // block * type_size
        assert t.n_bytes == n_bytes, name
        assert (t.data_offset - r.data_offset) % 64 == 0, name
        assert t.data.tobytes() == pattern_bytes(k, n_bytes), name


def test_committed_fixture_is_what_check_gguf_writes(tmp_path: Path):
    import check_gguf

    out = tmp_path / "fixture.gguf"
    check_gguf.write_fixture(out)
    committed = ROOT / "tests" / "fixtures" / "gguf" / "written_by_gguf_py.gguf"
    assert out.read_bytes() == committed.read_bytes(), "regenerate with tools/check_gguf.py write-fixture"
    dumped = check_gguf.dump(committed)
    assert [t["name"] for t in dumped["tensors"]] == ["t.f32", "t.f16", "t.q8_0", "t.i32"]
    assert dumped["tensors"][2]["type"] == "Q8_0"
    assert dumped["tensors"][2]["ne"] == [64, 2]
