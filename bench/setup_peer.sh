#!/usr/bin/env bash
# Builds llama.cpp (llama-bench, llama-simple, llama-server), the speed and interop peer, from the pinned llama-cpp-python
# sdist (PyPI; it vendors llama.cpp's source) into .peer/ at the repo root
# (gitignored; nothing of llama.cpp is committed). Native CPU flags, CPU backend
# only, release. Idempotent: reuses a finished build of the same pin.
# Prints the build directory's bin/ path on stdout.
# Usage: bash bench/setup_peer.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=0.3.36
peer="$root/.peer"
src="$peer/llama-cpp-python-$version"
build="$peer/build-$version"
jobs=${JOBS:-2}
if [ -x "$build/bin/llama-bench" ] && [ -x "$build/bin/llama-simple" ] && [ -x "$build/bin/llama-server" ] && [ -f "$build/.done" ]; then
  echo "$build/bin"
  exit 0
fi
mkdir -p "$peer"
if [ ! -f "$src/vendor/llama.cpp/CMakeLists.txt" ]; then
  dl=$(mktemp -d)
  python3 -m pip download -q --disable-pip-version-check --no-binary llama-cpp-python --no-deps \
    -d "$dl" "llama-cpp-python==$version" >&2
  rm -rf "$src" && mkdir -p "$src"
  tar -xzf "$dl/llama_cpp_python-$version.tar.gz" -C "$src" --strip-components=1
  rm -rf "$dl"
fi
echo "setup-peer: building llama.cpp ($version) with $jobs jobs in $build" >&2
cmake -S "$src/vendor/llama.cpp" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON \
  -DGGML_BUILD_TESTS=OFF -DBUILD_SHARED_LIBS=ON >&2
cmake --build "$build" -j "$jobs" --target llama-bench llama-simple llama-server >&2
touch "$build/.done"
echo "$build/bin"
