"""fathom's safetensors writer, checked by the reference Python library.

Runs the gtest SafetensorsInteropTest.WriteForPython (which writes into
$FATHOM_INTEROP_DIR), then loads every tensor with safetensors and compares dtype,
shape and values with the formula both sides share (ExpectedValue() in
tests/formats/safetensors_test_util.h). Skips if the release test binary is absent.

    .venv/bin/python -m pytest tests/python/test_safetensors_interop.py
"""
import json
import os
import pathlib
import struct
import subprocess

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("FATHOM_TESTS_BINARY", ROOT / "build/release/fathom_tests"))

# Mirrors the tensor list built in WriteForPython.
SHAPES = [(7, 3), (5,), (2, 3, 4), (), (0, 2), (33,)]
NUMPY_DTYPES = [("F64", np.float64), ("F32", np.float32), ("F16", np.float16), ("I8", np.int8),
                ("I16", np.int16), ("I32", np.int32), ("I64", np.int64), ("U8", np.uint8), ("BOOL", np.bool_)]


def expected(st_dtype: str, shape) -> np.ndarray:
    i = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    if st_dtype in ("F64", "F32", "F16", "BF16"):
        v = (i % 64) * 0.5 - 8.0
    elif st_dtype.startswith("F8"):
        v = (i % 16) * 0.5 - 4.0
    elif st_dtype.startswith("I"):
        v = i % 200 - 100
    elif st_dtype == "U8":
        v = i % 251
    elif st_dtype == "BOOL":
        v = i % 3 == 0
    else:
        raise ValueError(st_dtype)
    return np.asarray(v, dtype=np.float64).reshape(shape)


def decode_small_float(raw: np.ndarray, exp_bits: int, mant_bits: int) -> np.ndarray:
    """Decodes F8 codes (no NaN/inf in the test data) without ml_dtypes."""
    raw = raw.astype(np.int64)
    sign = np.where(raw >> (exp_bits + mant_bits) & 1, -1.0, 1.0)
    exponent = raw >> mant_bits & ((1 << exp_bits) - 1)
    mantissa = raw & ((1 << mant_bits) - 1)
    bias = (1 << (exp_bits - 1)) - 1
    normal = (1.0 + mantissa / (1 << mant_bits)) * np.exp2(exponent - bias)
    subnormal = (mantissa / (1 << mant_bits)) * np.exp2(1 - bias)
    return sign * np.where(exponent == 0, subnormal, normal)


@pytest.fixture(scope="module")
def interop_dir(tmp_path_factory):
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is not built (cmake --preset release && cmake --build --preset release)")
    out = tmp_path_factory.mktemp("interop")
    result = subprocess.run(
        [str(BINARY), "--gtest_filter=SafetensorsInteropTest.WriteForPython"],
        env={**os.environ, "FATHOM_INTEROP_DIR": str(out)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[  PASSED  ] 1 test" in result.stdout, result.stdout
    return out


def expected_sharded_tensors():
    tensors = {}
    n = 0
    for st_dtype, np_dtype in NUMPY_DTYPES:
        for shape in (SHAPES[n % len(SHAPES)], SHAPES[(n + 1) % len(SHAPES)]):
            tensors[f"t{n}.{st_dtype}"] = (st_dtype, np_dtype, shape)
            n += 1
    return tensors


def test_sharded_model_loads_in_reference_library(interop_dir):
    model = interop_dir / "sharded"
    index = json.loads((model / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 3
    assert shards == [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]

    want = expected_sharded_tensors()
    assert set(index["weight_map"]) == set(want)
    loaded = {}
    for shard in shards:
        tensors = load_file(str(model / shard))
        for name in tensors:
            assert index["weight_map"][name] == shard, name
        loaded.update(tensors)
        with safe_open(str(model / shard), framework="numpy") as f:
            assert f.metadata() == {"format": "pt", "writer": "fathom"}
    assert set(loaded) == set(want)

    total = 0
    for name, (st_dtype, np_dtype, shape) in want.items():
        got = loaded[name]
        assert got.dtype == np.dtype(np_dtype), name
        assert got.shape == shape, name
        np.testing.assert_array_equal(got.astype(np.float64), expected(st_dtype, shape), err_msg=name)
        total += got.nbytes
    assert index["metadata"]["total_size"] == total


def test_dtypes_numpy_lacks_round_trip_through_raw_bytes(interop_dir):
    path = interop_dir / "exotic.safetensors"
    want = {"bf16": ("BF16", (4, 5)), "f8_e4m3": ("F8_E4M3", (3, 6)), "f8_e5m2": ("F8_E5M2", (17,))}
    # The reference parser accepts the header and agrees on dtype and shape.
    with safe_open(str(path), framework="numpy") as f:
        assert sorted(f.keys()) == sorted(want)
        assert f.metadata() == {"writer": "fathom"}
        for name, (st_dtype, shape) in want.items():
            sl = f.get_slice(name)
            assert sl.get_dtype() == st_dtype
            assert tuple(sl.get_shape()) == shape
    # numpy has no bfloat16 / float8, so decode the bytes here.
    blob = path.read_bytes()
    (header_len,) = struct.unpack("<Q", blob[:8])
    assert header_len % 8 == 0
    header = json.loads(blob[8:8 + header_len])
    data = blob[8 + header_len:]
    for name, (st_dtype, shape) in want.items():
        begin, end = header[name]["data_offsets"]
        raw = np.frombuffer(data[begin:end], dtype=np.uint16 if st_dtype == "BF16" else np.uint8)
        if st_dtype == "BF16":
            values = (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif st_dtype == "F8_E4M3":
            values = decode_small_float(raw, 4, 3)
        else:
            values = decode_small_float(raw, 5, 2)
        np.testing.assert_array_equal(values.reshape(shape), expected(st_dtype, shape), err_msg=name)
