#!/usr/bin/env bash
# The one script a lent GPU machine runs, in one device call, within about 8
# minutes: builds the `cuda` preset (sm_90 only, -j16) against the Debian
# packages scripts/gpu_deps.sh downloaded here (carried as .gpudeps/), runs the
# CUDA tests (tests/cuda + CudaDeviceTest), fathom_gpu_bench,
# tools/hf_gpu_bench.py on the same synthetic model and bench/serve_bench.py (1,
# 16 and 64 streams through `fathom serve --device cuda`), then prints a summary.
# Logs and JSON go to $OUT when set (else /tmp/fathom-gpu-check): at most the 8
# files the device tool brings back.
#
#   device run: command "bash scripts/gpu_check.sh", carry [".gpudeps"], timeout_s 600
#
# Knobs (environment): LLAMA_LAYERS (16) and MOE_LAYERS (8) shrink the benchmark
# models (0: the full 32 / 27 layers); BUDGET_S (480) is the whole run's time,
# each step's timeout is cut to what is left; JOBS (16); SKIP_TESTS=1,
# SKIP_BENCH=1, SKIP_HF=1, SKIP_SERVE=1 drop a step; WORK_DIR (/tmp) holds the models (up to
# ~17 GB by default). `--configure-only` stops after CMake's
# configure (to check the dependency prefix on any machine); BUILD_DIR
# (build/cuda) moves the build.
#
# Non-obvious rules: the packages are unpacked into a prefix under /tmp, never
# into / (they would replace the image's own libraries), and relocated there:
# pkg-config files and absolute symlinks are rewritten to point into the prefix.
# LD_LIBRARY_PATH names the prefix only for fathom's own programs; PyTorch runs
# with the image's libraries. A failed step is reported and the rest still run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

configure_only=0
[ "${1:-}" = "--configure-only" ] && configure_only=1
out=${OUT:-/tmp/fathom-gpu-check}
mkdir -p "$out"
build=${BUILD_DIR:-build/cuda}
jobs=${JOBS:-16}
llama_layers=${LLAMA_LAYERS:-16}
moe_layers=${MOE_LAYERS:-8}
budget=${BUDGET_S:-480}
start=$SECONDS
summary="$out/summary.md"
: >"$summary"

say() { echo "gpu_check: $*" >&2; }
left() { echo $((budget - (SECONDS - start))); }
results=()  # "step|result|seconds"
record() { results+=("$1|$2|$3"); say "$1: $2 ($3 s)"; }
# step_timeout MAX: MAX seconds, or what is left of the budget if less (at least 10).
step_timeout() {
  local l
  l=$(left)
  [ "$l" -lt "$1" ] && echo $((l > 10 ? l : 10)) || echo "$1"
}

# ---- the machine
{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 || true
  command -v nvcc >/dev/null || export PATH="$PATH:/usr/local/cuda/bin"
  echo "nvcc: $(nvcc --version 2>&1 | tail -1)"
  echo "cmake: $(cmake --version 2>&1 | head -1)"
  echo "ninja: $(ninja --version 2>&1)"
  echo "c++: $(c++ --version 2>&1 | head -1)"
  echo "os: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}")"
  echo "nproc: $(nproc)"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tail -1
} >"$out/env.log" 2>&1
command -v nvcc >/dev/null || export PATH="$PATH:/usr/local/cuda/bin"
cat "$out/env.log" >&2

# ---- the dependency prefix
prefix=/tmp/fathom-gpudeps
t0=$SECONDS
if ! ls .gpudeps/*.deb >/dev/null 2>&1; then
  record deps "FAILED: no .gpudeps/*.deb (run scripts/gpu_deps.sh here and carry .gpudeps)" 0
  exit 1
fi
rm -rf "$prefix"
mkdir -p "$prefix/bin"
# dpkg -x where the image has dpkg; else the same by hand (a .deb is an ar
# archive whose data.tar.* member holds the files).
unpack() {
  if command -v dpkg >/dev/null && [ "${GPU_CHECK_NO_DPKG:-0}" != 1 ]; then
    dpkg -x "$1" "$2"
  else
    python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
data = open(deb, "rb").read()
if data[:8] != b"!<arch>\n":
    sys.exit(f"{deb}: not an ar archive")
pos = 8
while pos + 60 <= len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size])) as t:
            kwargs = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
            t.extractall(dest, **kwargs)
        sys.exit(0)
    pos += 60 + size + (size & 1)
sys.exit(f"{deb}: no data.tar member")
PY
  fi
}
for deb in .gpudeps/*.deb; do unpack "$deb" "$prefix" || { record deps "FAILED: unpacking $deb" 0; exit 1; }; done
find "$prefix" -name '*.pc' -exec sed -i -e "s#=/usr#=$prefix/usr#g" -e "s#-I/usr/#-I$prefix/usr/#g" \
  -e "s#-L/usr/#-L$prefix/usr/#g" {} +
find "$prefix" -type l | while read -r link; do
  target=$(readlink "$link")
  case "$target" in /*) ln -sfn "$prefix$target" "$link" ;; esac
done
libdirs="$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu"
pcdirs="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig"
# Debian's pkgconf, finding its own libpkgconf and only the prefix's .pc files.
cat >"$prefix/bin/pkg-config" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$libdirs" PKG_CONFIG_LIBDIR="$pcdirs" PKG_CONFIG_PATH="$pcdirs" exec "$prefix/usr/bin/pkgconf" "\$@"
EOF
chmod +x "$prefix/bin/pkg-config"
orig_ld_library_path=${LD_LIBRARY_PATH:-} orig_cpath=${CPATH:-} orig_library_path=${LIBRARY_PATH:-}
export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PKG_CONFIG_LIBDIR="$pcdirs" PKG_CONFIG_PATH="$pcdirs"
export CPATH="$prefix/usr/include${CPATH:+:$CPATH}"
export LIBRARY_PATH="$libdirs${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$libdirs${orig_ld_library_path:+:$orig_ld_library_path}"
# A pip-installed CMake 4 refuses packages' config files that still name CMake
# versions before 3.5; this lets it read them as 3.5 (CMake 3 ignores it).
export CMAKE_POLICY_VERSION_MINIMUM=3.5
if ! "$prefix/bin/pkg-config" --cflags --libs cpp-httplib libpcre2-8 libutf8proc zlib >/dev/null; then
  record deps "FAILED: the prefix's pkg-config files do not resolve" $((SECONDS - t0))
  exit 1
fi
record deps "ok ($(ls .gpudeps/*.deb | wc -l) packages in $prefix)" $((SECONDS - t0))

# ---- configure and build
t0=$SECONDS
cmake --preset cuda -B "$build" -DCMAKE_CUDA_ARCHITECTURES=90 -DPKG_CONFIG_EXECUTABLE="$prefix/bin/pkg-config" \
  >"$out/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  tail -30 "$out/build.log" >&2
  record configure "FAILED (rc $rc, build.log)" $((SECONDS - t0))
  exit 1
fi
record configure ok $((SECONDS - t0))
[ $configure_only -eq 1 ] && exit 0

t0=$SECONDS
timeout "$(step_timeout 330)" cmake --build "$build" -j"$jobs" --target fathom fathom_tests fathom_gpu_bench \
  >>"$out/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  grep -E 'error|Error' "$out/build.log" | head -40 >&2
  record build "FAILED (rc $rc$([ $rc -eq 124 ] && echo ', timed out'), build.log)" $((SECONDS - t0))
  build_ok=0
else
  record build ok $((SECONDS - t0))
  build_ok=1
fi

# ---- CUDA tests
if [ $build_ok -eq 1 ] && [ "${SKIP_TESTS:-0}" != 1 ]; then
  t0=$SECONDS
  timeout "$(step_timeout 150)" ctest --test-dir "$build" -R 'Cuda' -j8 --timeout 120 --output-on-failure \
    >"$out/ctest.log" 2>&1
  rc=$?
  line=$(grep -E 'tests passed|No tests were found' "$out/ctest.log" | tail -1)
  skipped=$(grep -c '(Skipped)' "$out/ctest.log")
  result="${line:-no ctest summary}; $skipped skipped"
  [ $rc -ne 0 ] && result="FAILED (rc $rc$([ $rc -eq 124 ] && echo ', timed out'), ctest.log): $result"
  record tests "$result" $((SECONDS - t0))
  grep -E '\*\*\*Failed|\(Failed\)|Timeout' "$out/ctest.log" | head -40 >&2
fi

# ---- benchmarks: one synthetic model for both engines
# Models go to the machine's disk through WORK_DIR (default /tmp); fathom_gpu_bench
# writes its MoE model under TMPDIR, so both follow it.
work=${WORK_DIR:-/tmp}
export TMPDIR="$work"
model=$work/fathom-gpu-model/llama8b-L$llama_layers
if [ $build_ok -eq 1 ] && { [ "${SKIP_BENCH:-0}" != 1 ] || [ "${SKIP_HF:-0}" != 1 ]; } && [ ! -f "$model/config.json" ]; then
  t0=$SECONDS
  rm -rf "$model"
  layer_args=()
  [ "$llama_layers" -gt 0 ] && layer_args=(--layers "$llama_layers")
  if "$build/fathom" synth --arch llama --preset r1-distill-llama-8b --dtype bf16 --seed 1 "${layer_args[@]}" \
      --quiet --out "$model" >>"$out/gpu_bench.log" 2>&1; then
    record synth "ok ($(du -sh "$model" | cut -f1))" $((SECONDS - t0))
  else
    record synth FAILED $((SECONDS - t0))
  fi
fi

if [ $build_ok -eq 1 ] && [ "${SKIP_BENCH:-0}" != 1 ] && [ -f "$model/config.json" ]; then
  t0=$SECONDS
  moe_args=()
  [ "$moe_layers" -gt 0 ] && moe_args=(--moe-layers "$moe_layers")
  timeout "$(step_timeout 200)" "$build/fathom_gpu_bench" --model "$model" "${moe_args[@]}" \
    --json "$out/gpu_bench.json" >>"$out/gpu_bench.log" 2>&1
  rc=$?
  record fathom_gpu_bench "$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc, gpu_bench.log)")" $((SECONDS - t0))
fi

if [ "${SKIP_HF:-0}" != 1 ] && [ -f "$model/config.json" ]; then
  t0=$SECONDS
  # The image's own environment: Inductor compiles C++ and must not see the prefix.
  LD_LIBRARY_PATH="$orig_ld_library_path" CPATH="$orig_cpath" LIBRARY_PATH="$orig_library_path" \
    PYTHONUNBUFFERED=1 timeout "$(step_timeout 240)" \
    python3 tools/hf_gpu_bench.py --model "$model" --out "$out/hf_bench.json" >"$out/hf_bench.log" 2>&1
  rc=$?
  record hf_gpu_bench "$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc, hf_bench.log)")" $((SECONDS - t0))
fi

# Serving through the engine on the GPU: 1, 16 and 64 concurrent streams of
# streamed completions (throughput, TTFT and inter-token percentiles), appended
# to gpu_bench.log (the device tool brings back 8 files at most).
if [ $build_ok -eq 1 ] && [ "${SKIP_SERVE:-0}" != 1 ] && [ -f "$model/config.json" ]; then
  t0=$SECONDS
  PYTHONUNBUFFERED=1 timeout "$(step_timeout 150)" python3 bench/serve_bench.py --model "$model" \
    --fathom "$build/fathom" --skip-peer --streams 1,16,64 --prompt 128 --gen 64 --requests 1 \
    --log-dir "$work" --fathom-args "--device cuda --kv-cache-mem 8G --max-batched-tokens 4096" \
    >>"$out/gpu_bench.log" 2>&1
  rc=$?
  record serve_bench "$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc, gpu_bench.log)")" $((SECONDS - t0))
fi

# ---- summary
{
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  echo "## gpu_check $(date -u +%FT%TZ) on ${gpu:-no GPU seen by nvidia-smi}"
  echo
  echo "| step | result | seconds |"
  echo "|---|---|---|"
  for r in "${results[@]}"; do echo "| ${r//|/ | } |"; done
  echo
  grep -E '^\|' "$out/gpu_bench.log" 2>/dev/null
  echo
  python3 - "$out/gpu_bench.json" "$out/hf_bench.json" <<'EOF'
import json, sys
def load(p):
    try:
        with open(p) as f:
            return json.loads(f.readline())
    except (OSError, ValueError):
        return {}
ours, hf = load(sys.argv[1]), load(sys.argv[2])
def ratio(a, b):
    return f"{a / b:.3f}" if a and b else "-"
print("| fathom vs transformers (same model dir) | fathom | transformers | fathom / transformers |")
print("|---|---|---|---|")
d, h = ours.get("decode_tok_s", 0), hf.get("decode_tok_s", 0)
print(f"| decode tok/s ({ours.get('layers', hf.get('layers', '?'))} layers; transformers {hf.get('compile', '?')}) "
      f"| {d:.1f} | {h:.1f} | {ratio(d, h)} |")
p, q = ours.get("prefill_s", 0), hf.get("prefill_s", 0)
print(f"| prefill {ours.get('prompt_tokens', hf.get('prompt_tokens', '?'))} tokens, seconds "
      f"| {p:.4f} | {q:.4f} | {ratio(q, p)} (speed) |")
EOF
} >"$summary" 2>&1
echo >&2
cat "$summary" >&2
for r in "${results[@]}"; do
  case "$r" in *FAILED*) exit 1 ;; esac
done
exit 0
