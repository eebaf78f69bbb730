#!/usr/bin/env python3
"""Writes tests/fixtures/safetensors/tiny.safetensors with the Python safetensors
library, so the C++ reader is tested against the reference writer (which orders
tensors by dtype alignment, then name, rather than as given).

Element i of each tensor follows the same formula as ExpectedValue() in
tests/formats/safetensors_test_util.h. Run from the repository root:
    .venv/bin/python tools/make_safetensors_fixture.py
"""
import pathlib

import numpy as np
from safetensors.numpy import save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/safetensors/tiny.safetensors"


def expected(dtype: np.dtype, shape) -> np.ndarray:
    i = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    if dtype.kind == "f":
        v = (i % 64) * 0.5 - 8.0
    elif dtype.kind == "i":
        v = i % 200 - 100
    elif dtype.kind == "u":
        v = i % 251
    elif dtype.kind == "b":
        v = i % 3 == 0
    else:
        raise ValueError(dtype)
    return v.astype(dtype).reshape(shape)


def main() -> None:
    tensors = {
        "model.embed.weight": expected(np.dtype(np.float32), (4, 3)),
        "half": expected(np.dtype(np.float16), (5,)),
        "double": expected(np.dtype(np.float64), (2, 2)),
        "bytes_signed": expected(np.dtype(np.int8), (7,)),
        "shorts": expected(np.dtype(np.int16), (3,)),
        "ints": expected(np.dtype(np.int32), (2, 1, 2)),
        "longs": expected(np.dtype(np.int64), (3,)),
        "bytes": expected(np.dtype(np.uint8), (6,)),
        "mask": expected(np.dtype(np.bool_), (2, 3)),
        "scalar": expected(np.dtype(np.float32), ()),
        "empty": expected(np.dtype(np.float32), (0, 4)),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT), metadata={"format": "np", "source": "make_safetensors_fixture.py"})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
