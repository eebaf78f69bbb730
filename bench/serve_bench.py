#!/usr/bin/env python3
"""Serving throughput and latency at 1, 4, 8 and 16 concurrent streams.

Starts `fathom serve` (and, when given, llama.cpp's `llama-server`) on the same
GGUF file, and for each concurrency level runs that many client threads, each
sending streaming /v1/completions requests back to back (greedy, a fixed prompt
length, ignore_eos so every request generates exactly --gen tokens). Reports per
level: aggregate generation tokens/s, its ratio to one stream, TTFT and
inter-token latency percentiles; with a peer, the ratio fathom / llama.cpp at the
same concurrency. One run, same machine, both servers in turn.

Usage: python bench/serve_bench.py --model M.gguf [--peer-bin DIR] [--streams 1,4,8,16]
       [--prompt 128] [--gen 64] [--requests 2] [--threads 2] [--json OUT]
"""
import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base, path, proc, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server not ready in time")


def prompt_text(n_words, seed):
    # Plain words, about one token each in the Qwen/DeepSeek vocabularies, drawn
    # per request so that prompts share no prefix: the prefix cache does not help.
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    rng = random.Random(seed)
    return " ".join(rng.choice(words) for _ in range(n_words))


def one_request(base, model, prompt, gen, out):
    body = {"model": model, "prompt": prompt, "max_tokens": gen, "temperature": 0.0, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    times = []
    completion_tokens = None
    with httpx.stream("POST", base + "/v1/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                completion_tokens = chunk["usage"].get("completion_tokens")
            if any(c.get("text") for c in chunk.get("choices", [])):
                times.append(time.perf_counter())
    out.append({"start": start, "times": times, "end": time.perf_counter(),
                "tokens": completion_tokens if completion_tokens is not None else len(times)})


def run_level(base, model, streams, requests_per_stream, prompt_words, gen):
    results = []
    lock = threading.Lock()

    def client(idx):
        local = []
        for k in range(requests_per_stream):
            one_request(base, model, prompt_text(prompt_words, streams * 1000 + idx * 31 + k), gen, local)
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    tokens = sum(r["tokens"] for r in results)
    ttft = [r["times"][0] - r["start"] for r in results if r["times"]]
    itl = [b - a for r in results for a, b in zip(r["times"], r["times"][1:])]

    def pct(xs, p):
        if not xs:
            return float("nan")
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

    return {"streams": streams, "requests": len(results), "tokens": tokens, "wall_s": wall,
            "tokens_per_s": tokens / wall, "ttft_p50": pct(ttft, 50), "ttft_p90": pct(ttft, 90),
            "ttft_p99": pct(ttft, 99), "itl_p50": pct(itl, 50), "itl_p90": pct(itl, 90), "itl_p99": pct(itl, 99),
            "itl_mean": statistics.mean(itl) if itl else float("nan")}


def bench_server(name, cmd, base, ready_path, model_name, args, levels):
    print(f"\n[{name}] {' '.join(cmd)}", file=sys.stderr, flush=True)
    log = open(os.path.join(args.log_dir, f"{name}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(base, ready_path, proc)
        run_level(base, model_name, 1, 1, args.prompt, 8)  # warm-up
        rows = []
        for s in levels:
            row = run_level(base, model_name, s, args.requests, args.prompt, args.gen)
            print(f"[{name}] {s:>2} streams: {row['tokens_per_s']:.2f} tok/s, TTFT p50 {row['ttft_p50']*1e3:.0f} ms, "
                  f"ITL p50 {row['itl_p50']*1e3:.1f} ms", file=sys.stderr, flush=True)
            rows.append(row)
        return rows
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--fathom", default=os.path.join(ROOT, "build/release/fathom"))
    ap.add_argument("--peer-bin", default="", help="llama.cpp bin/ holding llama-server (bench/setup_peer.sh)")
    ap.add_argument("--streams", default="1,4,8,16")
    ap.add_argument("--prompt", type=int, default=128, help="prompt length in words (about tokens)")
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--requests", type=int, default=2, help="requests per stream per level")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--fathom-args", default="", help="extra `fathom serve` flags, e.g. '--max-batched-tokens 128'")
    ap.add_argument("--json", default="")
    ap.add_argument("--log-dir", default="/tmp")
    args = ap.parse_args()
    levels = [int(x) for x in args.streams.split(",")]
    max_streams = max(levels)
    # Room for prompts of up to 3 tokens a word (small vocabularies split words).
    ctx = 3 * args.prompt + args.gen + 64

    report = {"model": args.model, "threads": args.threads, "prompt_words": args.prompt, "gen": args.gen,
              "servers": {}}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    report["servers"]["fathom"] = bench_server(
        "fathom", [args.fathom, "serve", "--model", args.model, "--port", str(port), "--threads", str(args.threads),
                   "--served-model-name", "bench", "--max-model-len", str(ctx), "--max-num-seqs", str(max_streams),
                   "--kv-cache-mem", str((max_streams + 2) * ctx * 60 * 1024), *args.fathom_args.split()],
        base, "/ready", "bench", args, levels)
    peer = os.path.join(args.peer_bin, "llama-server") if args.peer_bin else ""
    if peer and os.access(peer, os.X_OK) and not args.skip_peer:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        report["servers"]["llama.cpp"] = bench_server(
            "llama.cpp", [peer, "-m", args.model, "--port", str(port), "-t", str(args.threads), "-tb",
                          str(args.threads), "-np", str(max_streams), "-c", str(max_streams * ctx), "-cb",
                          "--no-webui", "-a", "bench"],
            base, "/health", "bench", args, levels)

    fathom = report["servers"]["fathom"]
    single = fathom[0]["tokens_per_s"] if fathom and fathom[0]["streams"] == 1 else None
    print("\n| server | streams | gen tok/s | x one stream | TTFT p50 / p90 / p99 (ms) | ITL p50 / p90 / p99 (ms) |")
    print("|---|---|---|---|---|---|")
    for name, rows in report["servers"].items():
        base_rate = rows[0]["tokens_per_s"] if rows and rows[0]["streams"] == 1 else None
        for r in rows:
            scale = f"{r['tokens_per_s'] / base_rate:.2f}" if base_rate else "-"
            print(f"| {name} | {r['streams']} | {r['tokens_per_s']:.2f} | {scale} | "
                  f"{r['ttft_p50']*1e3:.0f} / {r['ttft_p90']*1e3:.0f} / {r['ttft_p99']*1e3:.0f} | "
                  f"{r['itl_p50']*1e3:.1f} / {r['itl_p90']*1e3:.1f} / {r['itl_p99']*1e3:.1f} |")
    if "llama.cpp" in report["servers"]:
        print("\n| streams | fathom / llama.cpp (gen tok/s) |")
        print("|---|---|")
        for a, b in zip(fathom, report["servers"]["llama.cpp"]):
            print(f"| {a['streams']} | {a['tokens_per_s'] / b['tokens_per_s']:.2f} |")
    if single:
        eight = [r for r in fathom if r["streams"] == 8]
        if eight:
            print(f"\nfathom at 8 streams: {eight[0]['tokens_per_s'] / single:.2f}x one stream (goal >= 3)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
