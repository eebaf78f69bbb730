#!/usr/bin/env bash
# Creates (or reuses) the reference venv .venv-ref at the repo root: pinned CPU
# torch, transformers, safetensors, numpy (tools/reference/requirements.txt), and
# unpacks llama.cpp's converter from the pinned llama-cpp-python sdist into
# .venv-ref/llama-cpp-python/. Idempotent: does nothing when the requirements
# file and sdist pin have not changed since the last successful run.
# Usage: bash tools/reference/setup.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv-ref"
req="$root/tools/reference/requirements.txt"
llamacpp_version=0.3.36  # llama-cpp-python sdist that vendors llama.cpp (convert_hf_to_gguf.py, gguf-py)
stamp="$venv/.setup.sha256"
want=$( (sha256sum "$req"; echo "$llamacpp_version") | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "setup-ref: ok ($venv)" >&2
  exit 0
fi

python=${PYTHON:-/usr/bin/python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

torch_pin=$(grep -E '^torch==' "$req")
# Prefer the CPU-only wheel (no CUDA libraries); fall back to PyPI's default wheel.
if ! "${pip[@]}" install -q --retries 1 --timeout 20 \
     --index-url https://download.pytorch.org/whl/cpu "$torch_pin"; then
  echo "setup-ref: CPU wheel index unreachable; installing $torch_pin from PyPI" >&2
  "${pip[@]}" install -q "$torch_pin"
fi
"${pip[@]}" install -q -r "$req"

# llama.cpp's convert_hf_to_gguf.py and its gguf-py, from the sdist (not built).
src="$venv/llama-cpp-python"
if [ ! -f "$src/vendor/llama.cpp/convert_hf_to_gguf.py" ]; then
  dl=$(mktemp -d)
  # --no-binary for this one package only: the sdist is what vendors llama.cpp.
  "${pip[@]}" download -q --no-binary llama-cpp-python --no-deps -d "$dl" "llama-cpp-python==$llamacpp_version"
  rm -rf "$src" && mkdir -p "$src"
  tar -xzf "$dl"/llama_cpp_python-"$llamacpp_version".tar.gz -C "$src" --strip-components=1
  rm -rf "$dl"
fi

echo "$want" > "$stamp"
"$venv/bin/python" -c 'import torch, transformers; print("setup-ref: torch", torch.__version__, "transformers", transformers.__version__)'
