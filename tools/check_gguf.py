#!/usr/bin/env python3
"""Cross-checks fathom's GGUF code against the reference `gguf` Python package.

The point is independence: files written here come from gguf.GGUFWriter and files
checked here are read with gguf.GGUFReader, never with fathom's own code.

  check_gguf.py write-fixture OUT.gguf   the file tests/formats/gguf_interop_test.cpp reads
  check_gguf.py write-seeds DIR          small seed files for fuzz/gguf_fuzz.cpp
  check_gguf.py dump FILE.gguf           metadata and tensors as GGUFReader sees them (JSON)

Regenerate the committed fixture with:
  .venv/bin/python tools/check_gguf.py write-fixture tests/fixtures/gguf/written_by_gguf_py.gguf
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

# The fixture's metadata, in the order it is written. gguf.GGUFWriter adds
# general.architecture first. tests/formats/gguf_interop_test.cpp mirrors this table.
FIXTURE_ARCH = "fathom-test"
FIXTURE_SCALARS = [
    ("py.u8", VT.UINT8, 200),
    ("py.i8", VT.INT8, -100),
    ("py.u16", VT.UINT16, 60000),
    ("py.i16", VT.INT16, -30000),
    ("py.u32", VT.UINT32, 4000000000),
    ("py.i32", VT.INT32, -2000000000),
    ("py.f32", VT.FLOAT32, 0.5),
    ("py.bool", VT.BOOL, True),
    ("py.string", VT.STRING, "fathom ✓"),
    ("py.u64", VT.UINT64, 2**40 + 3),
    ("py.i64", VT.INT64, -(2**40)),
    ("py.f64", VT.FLOAT64, math.pi),
]
FIXTURE_TOKENS = ["<unk>", "<s>", "</s>", "hello", "wörld", ""]
FIXTURE_F32_ARRAY = [0.0, -1.5, 2.25]
FIXTURE_I32_ARRAY = [1, -2, 3]
FIXTURE_NESTED = [[1, 2], [3]]


def fixture_q8_0_source() -> np.ndarray:
    """Values of the Q8_0 tensor before quantisation: x[r, c] = (c - 32) / 8 + r."""
    r, c = np.meshgrid(np.arange(2), np.arange(64), indexing="ij")
    return ((c - 32) / 8.0 + r).astype(np.float32)


def write_fixture(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), FIXTURE_ARCH)
    for key, vtype, value in FIXTURE_SCALARS:
        w.add_key_value(key, value, vtype)
    w.add_array("tokenizer.ggml.tokens", FIXTURE_TOKENS)
    w.add_key_value("py.f32_array", FIXTURE_F32_ARRAY, VT.ARRAY, sub_type=VT.FLOAT32)
    w.add_key_value("py.i32_array", FIXTURE_I32_ARRAY, VT.ARRAY, sub_type=VT.INT32)
    w.add_key_value("py.nested", FIXTURE_NESTED, VT.ARRAY)
    # Shapes are numpy (row-major) order; GGUF stores them reversed as ne.
    w.add_tensor("t.f32", (np.arange(12, dtype=np.float32) * 0.5).reshape(3, 4))
    w.add_tensor("t.f16", (np.arange(8, dtype=np.float32) * 0.25 - 1.0).astype(np.float16).reshape(2, 4))
    q = gguf.quants.quantize(fixture_q8_0_source(), QT.Q8_0)
    w.add_tensor("t.q8_0", q, raw_dtype=QT.Q8_0)
    w.add_tensor("t.i32", np.array([1, -2, 3, -4, 5], dtype=np.int32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_seeds(out_dir: Path) -> None:
    """A few tiny, varied, valid files; libFuzzer mutates from these."""
    out_dir.mkdir(parents=True, exist_ok=True)

    w = gguf.GGUFWriter(str(out_dir / "metadata_only.gguf"), "seed")
    w.add_uint32("seed.n", 7)
    w.add_array("seed.strings", ["a", "bc"])
    w.add_key_value("seed.nested", [[1], [2, 3]], VT.ARRAY)
    w.add_bool("seed.flag", False)
    w.add_float64("seed.f64", 1.25)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

    w = gguf.GGUFWriter(str(out_dir / "aligned8_tensors.gguf"), "seed")
    w.add_custom_alignment(8)
    w.add_tensor("a", np.arange(6, dtype=np.float32).reshape(2, 3))
    w.add_tensor("b", np.arange(4, dtype=np.int8))
    w.add_tensor("c", gguf.quants.quantize(np.ones((1, 32), np.float32), QT.Q8_0), raw_dtype=QT.Q8_0)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

    # The same structure in GGUF version 2 (identical layout, different version field).
    data = bytearray((out_dir / "aligned8_tensors.gguf").read_bytes())
    data[4:8] = (2).to_bytes(4, "little")
    (out_dir / "v2_aligned8_tensors.gguf").write_bytes(bytes(data))


def _field_value(field: gguf.ReaderField):
    if field.types and field.types[0] == VT.ARRAY:
        return {"array_types": [t.name for t in field.types], "flat": field.contents()}
    return field.contents()


def dump(path: Path) -> dict:
    r = gguf.GGUFReader(str(path))
    out = {"alignment": int(r.alignment), "data_offset": int(r.data_offset), "metadata": {}, "tensors": []}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        out["metadata"][name] = {"type": field.types[0].name, "value": _field_value(field)}
    for t in r.tensors:
        out["tensors"].append({
            "name": t.name,
            "type": QT(t.tensor_type).name,
            "ne": [int(d) for d in t.shape],
            "offset": int(t.data_offset),
            "n_bytes": int(t.n_bytes),
            "sha256": hashlib.sha256(t.data.tobytes()).hexdigest(),
        })
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("write-fixture").add_argument("out", type=Path)
    sub.add_parser("write-seeds").add_argument("out_dir", type=Path)
    sub.add_parser("dump").add_argument("path", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "write-fixture":
        write_fixture(args.out)
    elif args.cmd == "write-seeds":
        write_seeds(args.out_dir)
    else:
        json.dump(dump(args.path), sys.stdout, indent=1, ensure_ascii=False, default=str)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
