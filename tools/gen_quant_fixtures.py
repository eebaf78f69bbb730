#!/usr/bin/env python3
"""Writes the fixtures that pin fathom's GGUF block formats to the gguf Python package.

Output, under tests/fixtures/quant/ (read by tests/core/quant_blocks_test.cpp and
tests/core/convert_test.cpp):
  ggml_quant_sizes.json  gguf.constants.GGML_QUANT_SIZES: {name: {type, block_elems, block_bytes}}
  manifest.json          one entry per .bin pair below, with element and block counts
  <type>_quant_input.bin     float32 rows (little-endian) fed to gguf.quants.quantize
  <type>_quant_expected.bin  the bytes it returned
  <type>_dequant_blocks.bin  random but valid blocks (finite F16 scales)
  <type>_dequant_expected.bin float32 values gguf.quants.dequantize returned

Quantize fixtures from gguf exist only for the types gguf.quants can quantize (Q8_0,
Q4_0 at gguf 0.18); dequantize fixtures exist for all four.

With --ggml-base PATH (a libggml-base.so exporting ggml's quantize_row_*_ref, such as
the one inside the pywhispercpp 1.5.1 wheel on PyPI, ggml 0.13.1:
`pip download pywhispercpp==1.5.1 --only-binary :all: --no-deps`, then unzip), it
also writes <type>_ggml_quant_{input,expected}.bin for all four types from ggml's
own reference quantizers, which is what pins Q4_K and Q6_K quantization. Their
inputs come from a separate random stream, so the gguf files do not depend on it.

Deterministic: fixed seeds, so rerunning with the same numpy, gguf and ggml versions
reproduces the files byte for byte.

Usage: .venv/bin/python tools/gen_quant_fixtures.py [--out DIR] [--ggml-base LIB]
"""

from __future__ import annotations

import argparse
import ctypes
import json
from pathlib import Path

import numpy as np
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

SEED = 20240531
OUR_TYPES = ["Q8_0", "Q4_0", "Q4_K", "Q6_K"]

# Byte offsets of the F16 scale fields inside one block of each type.
F16_FIELDS = {
    "Q8_0": [0],
    "Q4_0": [0],
    "Q4_K": [0, 2],
    "Q6_K": [208],
}


def can_quantize(qtype: GGMLQuantizationType) -> bool:
    probe = np.zeros((1, GGML_QUANT_SIZES[qtype][0]), dtype=np.float32)
    try:
        quants.quantize(probe, qtype)
    except NotImplementedError:
        return False
    return True


def quantize_input_rows(rng: np.random.Generator, block_elems: int, num_random: int = 54) -> np.ndarray:
    """Rows of one block each, covering the cases that break naive quantizers."""
    rows = []

    def add(values) -> None:
        row = np.asarray(values, dtype=np.float32)
        assert row.shape == (block_elems,)
        rows.append(row)

    add(np.zeros(block_elems))                                  # all zeros
    add(rng.standard_normal(block_elems) * 1e-30)               # tiny: F16 scale underflows to 0
    add(rng.standard_normal(block_elems) * 1e-6)                # F16 scale is subnormal
    row = rng.standard_normal(block_elems)
    row[block_elems // 3] = 3.0e4                               # one huge outlier
    add(row)
    row = rng.standard_normal(block_elems)
    row[5] = -1.0e7                                             # outlier past F16 range: scale -> inf
    add(row)
    add(np.where(np.arange(block_elems) % 2 == 0, 5.0, -5.0))   # |max| ties between signs
    # Exact halves: scale 1 (Q8_0: amax 127, Q4_0: max -8) so x * id lands on ties.
    halves = (np.arange(block_elems) % 16 - 8) + 0.5
    add(np.concatenate([[127.0], halves[1:]]))
    add(np.concatenate([[-8.0], np.clip(halves[1:], -8, 7.5)]))
    row = np.zeros(block_elems)
    row[7] = 2.5                                                # single non-zero
    add(row)
    add(np.full(block_elems, -0.75))                            # constant block
    for _ in range(num_random):                                 # random scales over 12 decades
        scale = 10.0 ** rng.uniform(-6, 6)
        add(rng.standard_normal(block_elems) * scale)
    return np.stack(rows)


def random_blocks(rng: np.random.Generator, name: str, num_blocks: int) -> np.ndarray:
    block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[name]][1]
    blocks = rng.integers(0, 256, size=(num_blocks, block_bytes), dtype=np.uint8)
    for offset in F16_FIELDS[name]:
        scales = rng.integers(0, 0x10000, size=num_blocks, dtype=np.uint32)
        # Finite only: an exponent field of 31 (inf/NaN) loses its top bit.
        finite = np.where((scales & 0x7C00) == 0x7C00, scales & ~np.uint32(0x4000), scales)
        # Also pin a few special scales: zero, negative zero, smallest subnormal, max.
        finite[:4] = [0x0000, 0x8000, 0x0001, 0x7BFF]
        blocks[:, offset] = (finite & 0xFF).astype(np.uint8)
        blocks[:, offset + 1] = (finite >> 8).astype(np.uint8)
    return blocks


def ggml_quantize(lib: ctypes.CDLL, name: str, rows: np.ndarray) -> np.ndarray:
    """Runs ggml's quantize_row_<name>_ref over rows (float32, whole blocks)."""
    fn = getattr(lib, f"quantize_row_{name.lower().replace('_k', '_K')}_ref")
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    block_elems, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[name]]
    x = np.ascontiguousarray(rows, dtype=np.float32)
    out = np.zeros((x.size // block_elems, block_bytes), dtype=np.uint8)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    return out


def write_ggml_fixtures(lib_path: Path, out: Path, manifest: dict) -> None:
    lib = ctypes.CDLL(str(lib_path))
    rng = np.random.default_rng(SEED + 1)
    manifest["ggml_base"] = lib_path.name
    for name in OUR_TYPES:
        qtype = GGMLQuantizationType[name]
        block_elems, _ = GGML_QUANT_SIZES[qtype]
        rows = quantize_input_rows(rng, block_elems, num_random=14 if block_elems == 256 else 22)
        quantized = ggml_quantize(lib, name, rows)
        if can_quantize(qtype):  # two references of one algorithm must agree
            with np.errstate(over="ignore"):
                assert np.array_equal(quantized, quants.quantize(rows, qtype)), name
        stem = f"{name.lower()}_ggml"
        (out / f"{stem}_quant_input.bin").write_bytes(rows.astype("<f4").tobytes())
        (out / f"{stem}_quant_expected.bin").write_bytes(quantized.tobytes())
        manifest["quantize"].append({
            "type": name,
            "source": "ggml",
            "num_elements": int(rows.size),
            "input": f"{stem}_quant_input.bin",
            "expected": f"{stem}_quant_expected.bin",
        })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "tests" / "fixtures" / "quant")
    parser.add_argument("--ggml-base", type=Path, help="libggml-base.so with quantize_row_*_ref")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    sizes = {
        qtype.name: {"type": int(qtype), "block_elems": int(elems), "block_bytes": int(nbytes)}
        for qtype, (elems, nbytes) in GGML_QUANT_SIZES.items()
    }
    (out / "ggml_quant_sizes.json").write_text(json.dumps(sizes, indent=1, sort_keys=True) + "\n")

    manifest = {"seed": SEED, "numpy": np.__version__, "quantize": [], "dequantize": []}
    for name in OUR_TYPES:
        qtype = GGMLQuantizationType[name]
        block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
        stem = name.lower()

        if can_quantize(qtype):
            rows = quantize_input_rows(rng, block_elems)
            with np.errstate(over="ignore"):  # the F16 overflow row is intended
                quantized = quants.quantize(rows, qtype)
            assert quantized.shape == (rows.shape[0], block_bytes)
            (out / f"{stem}_quant_input.bin").write_bytes(rows.astype("<f4").tobytes())
            (out / f"{stem}_quant_expected.bin").write_bytes(quantized.tobytes())
            manifest["quantize"].append({
                "type": name,
                "source": "gguf",
                "num_elements": int(rows.size),
                "input": f"{stem}_quant_input.bin",
                "expected": f"{stem}_quant_expected.bin",
            })

        num_blocks = 64 if block_elems == 32 else 16
        blocks = random_blocks(rng, name, num_blocks)
        values = quants.dequantize(blocks, qtype).astype(np.float32)
        assert values.shape == (num_blocks, block_elems)
        assert np.isfinite(values).all()
        (out / f"{stem}_dequant_blocks.bin").write_bytes(blocks.tobytes())
        (out / f"{stem}_dequant_expected.bin").write_bytes(values.astype("<f4").tobytes())
        manifest["dequantize"].append({
            "type": name,
            "num_elements": int(values.size),
            "blocks": f"{stem}_dequant_blocks.bin",
            "expected": f"{stem}_dequant_expected.bin",
        })

    if args.ggml_base is not None:
        write_ggml_fixtures(args.ggml_base, out, manifest)

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(list(out.iterdir()))} files, {total} bytes, to {out}")


if __name__ == "__main__":
    main()
