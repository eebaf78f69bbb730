#!/usr/bin/env bash
# Sets up a fresh machine, builds fathom, writes the default model and serves it.
# The default model is the tiny R1-Distill-Qwen-shaped model with the project's
# own tokenizer (`fathom synth --arch qwen2 --preset tiny`), so nothing needs to
# be downloaded. The OpenAI-compatible server listens on FATHOM_HOST:FATHOM_PORT
# (default 127.0.0.1:8000) until SIGTERM or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/build.sh release
model="$root/models/default"
if [ ! -f "$model/config.json" ]; then
  ./build/release/fathom synth --arch qwen2 --preset tiny --out "$model" --seed 0
fi
exec ./build/release/fathom serve --model "$model" --served-model-name fathom-default \
  --host "${FATHOM_HOST:-127.0.0.1}" --port "${FATHOM_PORT:-8000}"
