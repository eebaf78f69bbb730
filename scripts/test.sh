#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite:
#   1. release build + GoogleTest suite (ctest)
#   2. Python interop tests against the peers (gguf, safetensors, tokenizers)
#   3. the same GoogleTest suite under AddressSanitizer + UBSan (debug preset)
#   4. every libFuzzer target for a bounded time on its corpus (clang)
#   5. the CUDA build compiles (when nvcc is installed; nothing runs on a GPU here)
#   6. the CUDA backend's op tests and two tiny models, CUDA vs CPU, on a CPU
#      emulation of the CUDA runtime, cuBLAS and the kernels (tools/cuda_emu)
# FATHOM_FUZZ_SECONDS (default 30) bounds each fuzzer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh

step() { printf '\n=== %s\n' "$*"; }

step "release build"
bash scripts/build.sh release
step "unit tests (release)"
ctest --preset release -j2

step "interop tests (python peers)"
set +e
.venv/bin/python -m pytest -q tests/python
rc=$?
set -e
# 5 means no tests were collected, which is a failure here too.
[ $rc -eq 0 ] || { echo "pytest failed ($rc)"; exit 1; }

step "debug build (ASan + UBSan)"
bash scripts/build.sh debug
step "unit tests (ASan + UBSan)"
ctest --preset debug -j2

step "fuzzing"
bash scripts/fuzz.sh "${FATHOM_FUZZ_SECONDS:-30}"

if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  step "CUDA build (compile only)"
  PATH="$PATH:/usr/local/cuda/bin" bash scripts/build.sh cuda
else
  step "CUDA build skipped: nvcc not installed"
fi
step "CUDA backend on the CPU emulator"
# Every op test, and end to end one llama-family and one DeepSeek-V3 tiny model
# (greedy tokens, packed and paged batches with graph capture and replay);
# FATHOM_CUDA_EMU_FILTER widens or narrows it (tools/cuda_emu/README.md).
RELEASE="$root/build/release" bash tools/cuda_emu/run.sh \
  --gtest_filter="${FATHOM_CUDA_EMU_FILTER:-CudaVsCpuBackend.*:CudaBackend*:TinyPresets/*/llama_tiny_f32:TinyPresets/*/deepseek_v3_tiny_f32}"
step "all tests passed"
