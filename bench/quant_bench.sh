#!/usr/bin/env bash
# fathom against llama.cpp on quantized GGUFs of one model, in one run: builds the
# peer, makes (or reuses) a 1.5B random-weight bf16 model, quantizes it to each
# type, runs llama-bench and `fathom bench` with the same threads and
# repetitions, prints the speed table, then `fathom eval-quant` of each type
# against the bf16 model. See bench/README.md for the columns.
#
# Usage: bash bench/quant_bench.sh
# Environment (all optional):
#   THREADS (nproc)  REPS (5)  PP (512)  TG (128)  POSITIONS (2048)  CTX (512)
#   TYPES ("q4_0 q8_0 q4_k")  BF16_MODEL (.bench-cache/qwen15b-bf16)
#   BENCH_CACHE (.bench-cache)  FATHOM (build/release/fathom)
#   PEER_BIN (bin/ of a llama.cpp build; default: what bench/setup_peer.sh prints)
#   SKIP_EVAL=1 skips the KL step; QUANTIZE_ONLY=1 stops after making the GGUFs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${THREADS:-$(nproc)}
reps=${REPS:-5}
pp=${PP:-512}
tg=${TG:-128}
positions=${POSITIONS:-2048}
ctx=${CTX:-512}
types=${TYPES:-"q4_0 q8_0 q4_k"}
cache=${BENCH_CACHE:-$root/.bench-cache}
model=${BF16_MODEL:-$cache/qwen15b-bf16}
fathom=${FATHOM:-$root/build/release/fathom}
mkdir -p "$cache"
log() { echo "quant-bench: $*" >&2; }

# (a) the peer
peer_bin=${PEER_BIN:-$(bash "$root/bench/setup_peer.sh")}
[ -x "$peer_bin/llama-bench" ] || { log "no $peer_bin/llama-bench (set PEER_BIN or run bench/setup_peer.sh)"; exit 1; }
export LD_LIBRARY_PATH="$peer_bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ -x "$fathom" ] || { log "no fathom binary at $fathom (build with cmake --preset release)"; exit 1; }

# (b) the bf16 model
if [ ! -f "$model/config.json" ]; then
  log "synthesizing the 1.5B bf16 model into $model"
  "$fathom" synth --arch qwen2 --preset deepseek-r1-distill-qwen-1.5b \
    --tokenizer "$root/../shared/models/tokenizers/qwen3" --out "$model"
fi

# (c) one GGUF per type, made by `fathom quantize` (it writes atomically, so an
# interrupted run never leaves a bad cache entry)
gguf_for() { echo "$cache/$(basename "$model")-$1.fathom.gguf"; }
for t in $types; do
  out=$(gguf_for "$t")
  [ -f "$out" ] || "$fathom" quantize "$model" "$out" "$t" --threads "$threads" >&2
done
if [ "${QUANTIZE_ONLY:-0}" = 1 ]; then exit 0; fi

# (d) speed, one type at a time, the peer first
results="$cache/results"
mkdir -p "$results"
for t in $types; do
  f=$(gguf_for "$t")
  log "$t: llama-bench"
  "$peer_bin/llama-bench" -m "$f" -p "$pp" -n "$tg" -t "$threads" -r "$reps" -o json >"$results/$t.llama.json"
  log "$t: fathom bench"
  "$fathom" bench --model "$f" -p "$pp" -n "$tg" -t "$threads" -r "$reps" --json >"$results/$t.fathom.json"
done

# (e) the table
python3 - "$results" "$pp" "$tg" "$threads" "$reps" $types <<'PY'
import json, sys
results, pp, tg, threads, reps, types = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
def peer_rate(rows, n_prompt, n_gen):
    for r in rows:
        if r["n_prompt"] == n_prompt and r["n_gen"] == n_gen:
            return r["avg_ts"], r["stddev_ts"]
    return None, None
print(f"\nquantized by fathom quantize; {threads} threads, {reps} repetitions; t/s = mean tokens/s")
head = ["type", f"pp{pp} fathom", f"pp{pp} llama.cpp", "ratio", f"tg{tg} fathom", f"tg{tg} llama.cpp", "ratio",
        "fathom decode GB/s", "machine read GB/s", "fraction"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join("---" for _ in head) + "|")
def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)
for t in types:
    peer = json.load(open(f"{results}/{t}.llama.json"))
    ours = json.load(open(f"{results}/{t}.fathom.json"))
    pp_peer, _ = peer_rate(peer, pp, 0)
    tg_peer, _ = peer_rate(peer, 0, tg)
    pp_ours, tg_ours = ours["prompt_tokens_per_s"], ours["gen_tokens_per_s"]
    ratio = lambda a, b: None if a is None or not b else a / b
    print("| " + " | ".join([t, fmt(pp_ours), fmt(pp_peer), fmt(ratio(pp_ours, pp_peer), ".3f"), fmt(tg_ours),
                             fmt(tg_peer), fmt(ratio(tg_ours, tg_peer), ".3f"), fmt(ours["decode_gb_per_s"]),
                             fmt(ours["machine_read_gb_per_s"]), fmt(ours["decode_bandwidth_fraction"], ".1%")]) + " |")
PY

# (f) quality against the bf16 model
if [ "${SKIP_EVAL:-0}" != 1 ]; then
  text="$cache/eval_text.txt"
  cat "$root/README.md" "$root"/src/model/*.h "$root"/src/engine/*.h "$root"/src/formats/*.h >"$text"
  args=()
  for t in $types; do args+=(--quant-model "$(gguf_for "$t")"); done
  log "eval-quant: $positions positions against $model"
  "$fathom" eval-quant --model "$model" "${args[@]}" --text "$text" --positions "$positions" --ctx "$ctx" \
    -t "$threads" --json >"$results/eval.json"
  python3 - "$results/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
print(f"\nagainst {e['reference']} over {e['positions']} positions (chunks of {e['ctx']})")
print("| type | mean KL | p99 KL | max KL | top-1 | logits rel RMS |")
print("|---|---|---|---|---|---|")
for m in e["models"]:
    name = m["model"].rsplit("/", 1)[-1]
    print(f"| {name} | {m['mean_kl']:.6f} | {m['p99_kl']:.6f} | {m['max_kl']:.6f} | {m['top1_agreement']:.2%} | {m['logits_rel_rms']:.5f} |")
PY
fi
