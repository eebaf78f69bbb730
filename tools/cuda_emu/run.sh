#!/usr/bin/env bash
# Builds and runs the CUDA backend's tests (tests/cuda, tests/backend/cuda_backend_test.cpp)
# on a CPU emulation of the CUDA runtime, cuBLAS and the kernels: no GPU, no nvcc.
#   tools/cuda_emu/run.sh [gtest args...]      e.g. --gtest_filter='CudaVsCpuBackend.*'
# Env: RELEASE (a CPU release build dir holding libfathom_lib.a, default
# build/release), BUILD (default build/cuda_emu), JOBS (default 2),
# BASE (the commit RELEASE was built from; library sources changed since then are
# rebuilt here, default: RELEASE's source tree HEAD), CUDA_EMU_TRACE=1 (log every
# launch), CUDA_EMU_NO_GRAPHS=1 (capture refused: eager fallback), FATHOM_CUDA_GRAPHS=0.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RELEASE="${RELEASE:-$ROOT/build/release}"
BUILD="${BUILD:-$ROOT/build/cuda_emu}"
JOBS="${JOBS:-2}"
if [[ ! -f "$RELEASE/libfathom_lib.a" ]]; then
  echo "no $RELEASE/libfathom_lib.a: build the CPU release first (scripts/build.sh release) or set RELEASE" >&2
  exit 1
fi
SRC_OF_RELEASE="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$RELEASE/CMakeCache.txt" 2>/dev/null || true)"
BASE="${BASE:-$(git -C "${SRC_OF_RELEASE:-$ROOT}" rev-parse HEAD)}"
OVERRIDES="$(cd "$ROOT" && git diff --name-only "$BASE" -- 'src/*.cpp' | grep -v -e '^src/backend/cuda_backend.cpp$' -e '^src/cli/main.cpp$' | tr '\n' ' ' || true)"
[[ -n "$OVERRIDES" ]] && echo "rebuilt over the release library: $OVERRIDES"
make -C "$ROOT/tools/cuda_emu" -j"$JOBS" ROOT="$ROOT" BUILD="$BUILD" RELEASE="$RELEASE" OVERRIDES="$OVERRIDES" \
  FATHOM_BIN="$RELEASE/fathom"
cd "$ROOT"
exec "$BUILD/cuda_emu_tests" "$@"
