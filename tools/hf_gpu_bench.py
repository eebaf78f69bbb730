#!/usr/bin/env python3
"""Hugging Face transformers on the GPU, as the peer of fathom_gpu_bench.

Runs a model directory (the same random-weight `fathom synth` directory the
fathom benchmark ran) in bf16 on cuda:0 the fastest way transformers itself
offers for batch-1 generation: a StaticCache and the one-token decode step
under torch.compile(mode="reduce-overhead", fullgraph=True), which replays it
as a CUDA graph (the recipe of transformers' "static cache and torch.compile"
docs). Measures
  decode: tokens/s of --gen single-token steps after a one-token prefill, the
          median of --reps runs after a compiling warm-up;
  prefill: seconds of one forward of --prompt random tokens on an empty cache
          (eager, SDPA attention, logits of the last row only, as fathom's pp),
          the median of --reps runs after one warm-up.
Prints one JSON line (also to --out FILE). If compiling fails, the decode is
timed eagerly and "compile" says why, so a broken compiler still gives numbers.

Non-obvious rule: every timing brackets torch.cuda.synchronize() calls; CUDA
runs asynchronously and a timer without them measures the launch queue.
"""
import argparse
import inspect
import json
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, StaticCache


def make_static_cache(model, max_cache_len):
    # StaticCache's constructor changed across transformers versions; pass only
    # what this one accepts.
    params = inspect.signature(StaticCache.__init__).parameters
    kwargs = {"config": model.config, "max_cache_len": max_cache_len}
    for name, value in (("max_batch_size", 1), ("batch_size", 1), ("device", model.device),
                        ("dtype", torch.bfloat16)):
        if name in params:
            kwargs[name] = value
    return StaticCache(**kwargs)


def forward_last_logits(model, **kwargs):
    # logits of the last row only, as fathom's prefill; older versions call the
    # argument num_logits_to_keep.
    try:
        return model(logits_to_keep=1, **kwargs)
    except TypeError:
        return model(num_logits_to_keep=1, **kwargs)


def timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face model directory")
    ap.add_argument("--prompt", type=int, default=4096, help="prefill tokens (0 skips)")
    ap.add_argument("--gen", type=int, default=128, help="decode steps (0 skips)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="time the decode eagerly")
    ap.add_argument("--out", help="also write the JSON line here")
    args = ap.parse_args()

    result = {"engine": "transformers", "transformers": transformers.__version__, "torch": torch.__version__,
              "device": torch.cuda.get_device_name(0), "model": args.model}
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, device_map="cuda")
    model = model.to(torch.bfloat16).eval()
    torch.cuda.synchronize()
    result["load_s"] = round(time.perf_counter() - t0, 2)
    result["layers"] = model.config.num_hidden_layers
    vocab = model.config.vocab_size
    gen = torch.Generator(device="cpu").manual_seed(1)
    print(f"hf_gpu_bench: loaded in {result['load_s']} s", file=sys.stderr, flush=True)

    with torch.no_grad():
        if args.prompt > 0:
            ids = torch.randint(0, vocab, (1, args.prompt), generator=gen).to(model.device)
            run = lambda: forward_last_logits(model, input_ids=ids, use_cache=True)
            timed(run)  # warm-up: cuBLAS / SDPA kernel choice
            samples = [timed(run) for _ in range(args.reps)]
            result["prompt_tokens"] = args.prompt
            result["prefill_s"] = statistics.median(samples)
            result["prefill_samples_s"] = samples
            print(f"hf_gpu_bench: prefill {result['prefill_s']:.4f} s", file=sys.stderr, flush=True)

        if args.gen > 0:
            cache = make_static_cache(model, args.gen + 16)

            def step(token, pos, cache_position):
                logits = model(token, position_ids=pos, cache_position=cache_position, past_key_values=cache,
                               return_dict=False, use_cache=True)[0]
                return torch.argmax(logits[:, -1], dim=-1, keepdim=True)

            decode = step
            result["compile"] = "off" if args.no_compile else "reduce-overhead"
            if not args.no_compile:
                decode = torch.compile(step, mode="reduce-overhead", fullgraph=True)

            first = torch.randint(0, vocab, (1, 1), generator=gen).to(model.device)
            # Made before timing, so no step waits on a host-to-device copy.
            positions = torch.arange(1, args.gen + 1, device=model.device).view(-1, 1, 1)

            def run_decode(fn):
                cache.reset()
                token = forward_last_logits(model, input_ids=first, past_key_values=cache, use_cache=True,
                                            cache_position=torch.arange(1, device=model.device)).logits
                token = torch.argmax(token[:, -1], dim=-1, keepdim=True)
                torch.cuda.synchronize()
                start = time.perf_counter()
                for i in range(args.gen):
                    pos = positions[i]  # (1, 1)
                    token = fn(token.clone(), pos, pos[0]).clone()
                torch.cuda.synchronize()
                return time.perf_counter() - start

            t0 = time.perf_counter()
            try:
                run_decode(decode)  # compiles and records the CUDA graph
            except Exception as e:  # noqa: BLE001 - any compiler failure falls back to eager
                result["compile"] = f"failed ({type(e).__name__}: {str(e)[:200]}); eager"
                decode = step
                run_decode(decode)
            result["warmup_s"] = round(time.perf_counter() - t0, 2)
            samples = [args.gen / run_decode(decode) for _ in range(args.reps)]
            result["gen_tokens"] = args.gen
            result["decode_tok_s"] = statistics.median(samples)
            result["decode_samples_tok_s"] = samples
            print(f"hf_gpu_bench: decode {result['decode_tok_s']:.2f} tok/s ({result['compile']})", file=sys.stderr,
                  flush=True)

    line = json.dumps(result)
    print(line, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
