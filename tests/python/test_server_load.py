"""A bounded load test of `fathom serve` on loopback.

64 concurrent streaming clients send a few hundred completions with random prompt
and output lengths; some hang up mid-stream. Every request that was not dropped
must complete with 200 and a finish_reason, the server must answer no 5xx, the KV
pool must drain back to zero blocks in use, and repeated rounds must not grow the
server's memory.
"""
import asyncio
import random
import re

import httpx
import pytest

from server_util import running_server

CLIENTS = 64
REQUESTS_PER_ROUND = 256
ROUNDS = 3


def metric(text, name):
    """Sum of every sample of `name` (any labels) in Prometheus text."""
    total = 0.0
    found = False
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if m:
            total += float(m.group(2))
            found = True
    assert found, f"{name} is not in /metrics"
    return total


def server_errors(text):
    n = 0.0
    for line in text.splitlines():
        if line.startswith("fathom_requests_total{") and re.search(r'status="5\d\d"', line):
            n += float(line.split()[-1])
    return n


async def one_request(client, rng, stats):
    words = " ".join(rng.choice(["sea", "deep", "blue", "whale", "ocean", "trench", "light"])
                     for _ in range(rng.randint(1, 120)))
    body = {"model": "tiny", "prompt": words, "max_tokens": rng.randint(1, 48), "stream": True,
            "temperature": rng.choice([0.0, 0.8]), "seed": rng.randint(0, 1000)}
    hang_up_after = rng.randint(1, 4) if rng.random() < 0.15 else None
    chunks = 0
    finish = None
    async with client.stream("POST", "/v1/completions", json=body) as r:
        if r.status_code != 200:
            stats["bad_status"].append(r.status_code)
            return
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                stats["done"] += 1
                break
            chunks += 1
            m = re.search(r'"finish_reason":\s*"(\w+)"', line)
            if m:
                finish = m.group(1)
            if hang_up_after is not None and chunks >= hang_up_after:
                stats["dropped"] += 1
                return  # leaving the block closes the connection mid-stream
    if finish not in ("stop", "length"):
        stats["unfinished"] += 1


async def run_round(base, seed):
    rng = random.Random(seed)
    stats = {"done": 0, "dropped": 0, "unfinished": 0, "bad_status": []}
    queue = list(range(REQUESTS_PER_ROUND))
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        async def worker():
            while queue:
                queue.pop()
                await one_request(client, rng, stats)
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return stats


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def wait_drained(base):
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for _ in range(200):
            text = (await client.get("/metrics")).text
            if (metric(text, "fathom_num_requests_running") == 0 and metric(text, "fathom_num_requests_waiting") == 0
                    and metric(text, "fathom_kv_cache_blocks_used") == 0):
                return text
            await asyncio.sleep(0.05)
    pytest.fail("the engine did not drain: requests or KV blocks still in use\n" + text)


def test_64_streaming_clients_with_disconnects(tiny_model):
    with running_server(tiny_model, "--max-num-seqs", "64", "--max-waiting", "1024",
                        "--max-model-len", "512", "--served-model-name", "tiny") as server:
        rss = []
        for round_no in range(ROUNDS):
            stats = asyncio.run(run_round(server.base, round_no))
            assert stats["bad_status"] == [], stats
            assert stats["unfinished"] == 0, stats
            assert stats["done"] + stats["dropped"] == REQUESTS_PER_ROUND, stats
            text = asyncio.run(wait_drained(server.base))
            assert server_errors(text) == 0
            rss.append(rss_kib(server.proc.pid))
        # The first round warms up allocator arenas and caches; later rounds must not grow.
        assert rss[-1] - rss[1] < 16 * 1024, f"RSS per round (KiB): {rss}"
        assert server.proc.poll() is None
