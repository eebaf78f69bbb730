#!/usr/bin/env bash
# Sets up a fresh machine, builds fathom, writes the default model and runs it.
# The default model is the tiny R1-Distill-Qwen-shaped model with the project's
# own tokenizer (`fathom synth --arch qwen2 --preset tiny`), so nothing needs to
# be downloaded. Until the server lands, this generates from the model with
# `fathom run` through its chat template; the serving issue replaces that step
# with `fathom serve`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/build.sh release
model="$root/models/default"
if [ ! -f "$model/config.json" ]; then
  ./build/release/fathom synth --arch qwen2 --preset tiny --out "$model" --seed 0
fi
./build/release/fathom run --model "$model" --chat --prompt "What is the deepest point of the ocean?" -n 64
