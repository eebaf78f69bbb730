"""`fathom serve` driven by the official `openai` client: chat and completions,
streamed and not, reasoning_content, n, logprobs, stop strings, seeds, exact usage
counts, the OpenAI error shape on every error path, /metrics through promtool, and
a clean exit on SIGTERM.

The model is the quickstart's tiny R1-Distill-Qwen-shaped model with random weights
(its built-in template opens <think> in the generation prompt and writes DeepSeek
tool-call markup), so tests compare the server with itself: streamed against
non-streamed, /tokenize against usage, one seed against the same seed.
"""
import json
import random
import shutil
import signal
import subprocess
import time

import httpx
import openai
import pytest

from server_util import FATHOM, running_server

MODEL = "tiny"
MAX_MODEL_LEN = 256
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is the deepest trench?"}]
TOOLS = [{"type": "function", "function": {"name": "get_depth", "description": "Depth of a trench in metres",
                                           "parameters": {"type": "object",
                                                          "properties": {"name": {"type": "string"}},
                                                          "required": ["name"]}}}]


@pytest.fixture(scope="module")
def server(tiny_model):
    with running_server(tiny_model, "--served-model-name", MODEL, "--max-model-len", str(MAX_MODEL_LEN),
                        "--max-num-seqs", "16", "--kv-cache-mem", "64M") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0, timeout=60) as c:
        yield c


def tokenize(server, **body):
    r = httpx.post(server.base + "/tokenize", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def assert_error_shape(body, status):
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"]
    assert status != 500


def extra(obj, name):
    """A field the OpenAI SDK's models do not declare (reasoning_content)."""
    return (obj.model_extra or {}).get(name)


# --- routes -------------------------------------------------------------------------------------------------------

def test_models_health_ready(server, client):
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].owned_by == "fathom"
    assert extra(models[0], "max_model_len") == MAX_MODEL_LEN
    assert httpx.get(server.base + "/health").status_code == 200
    ready = httpx.get(server.base + "/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_tokenize_detokenize_round_trip(server):
    t = tokenize(server, prompt="the deep blue sea")
    assert t["count"] == len(t["tokens"]) and t["max_model_len"] == MAX_MODEL_LEN
    r = httpx.post(server.base + "/detokenize", json={"tokens": t["tokens"]})
    assert r.status_code == 200
    assert r.json()["prompt"].endswith("the deep blue sea")
    bad = httpx.post(server.base + "/detokenize", json={"tokens": [10**9]})
    assert bad.status_code == 400
    assert_error_shape(bad.json(), 400)


# --- chat ---------------------------------------------------------------------------------------------------------

def test_chat_usage_and_reasoning(server, client):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=24, temperature=0, seed=1)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == MODEL
    assert len(r.choices) == 1 and r.choices[0].index == 0
    msg = r.choices[0].message
    assert msg.role == "assistant"
    assert "reasoning_content" in (msg.model_extra or {}), "the template opens <think>: reasoning is on by default"
    prompt = tokenize(server, messages=MESSAGES, add_generation_prompt=True)
    assert r.usage.prompt_tokens == prompt["count"]
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert 1 <= r.usage.completion_tokens <= 24
    assert r.choices[0].finish_reason in ("stop", "length")

    # With the split off, the same tokens come back as raw content.
    raw = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=24, temperature=0, seed=1,
                                         extra_body={"include_reasoning": False})
    raw_text = raw.choices[0].message.content
    assert extra(raw.choices[0].message, "reasoning_content") is None
    reasoning = extra(msg, "reasoning_content") or ""
    assert raw_text.replace("</think>", "", 1) == reasoning + (msg.content or "")


def collect_chat_stream(stream):
    text = {"content": "", "reasoning": ""}
    finish, usage, roles = None, None, 0
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
            continue
        for c in chunk.choices:
            if c.delta.role:
                roles += 1
            text["content"] += c.delta.content or ""
            text["reasoning"] += extra(c.delta, "reasoning_content") or ""
            if c.finish_reason:
                finish = c.finish_reason
    return text, finish, usage, roles


def test_chat_stream_equals_non_stream(client):
    kwargs = dict(model=MODEL, messages=MESSAGES, max_tokens=32, temperature=0, seed=3)
    whole = client.chat.completions.create(**kwargs)
    text, finish, usage, roles = collect_chat_stream(
        client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
    msg = whole.choices[0].message
    assert text["content"] == (msg.content or "")
    assert text["reasoning"] == (extra(msg, "reasoning_content") or "")
    assert finish == whole.choices[0].finish_reason
    assert roles == 1
    assert usage is not None and usage.prompt_tokens == whole.usage.prompt_tokens
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_chat_n_choices_and_logprobs(client):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8, temperature=1, seed=5, n=3,
                                       logprobs=True, top_logprobs=3, extra_body={"ignore_eos": True})
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    assert r.usage.completion_tokens == 3 * 8
    for c in r.choices:
        assert c.finish_reason == "length"
        assert len(c.logprobs.content) == 8
        for entry in c.logprobs.content:
            assert entry.logprob <= 0
            assert len(entry.top_logprobs) == 3
            assert entry.bytes is not None
            top = [t.logprob for t in entry.top_logprobs]
            assert top == sorted(top, reverse=True)


def test_chat_seed_reproducible_at_temperature_one(client):
    kwargs = dict(model=MODEL, messages=MESSAGES, max_tokens=16, temperature=1, seed=1234,
                  extra_body={"include_reasoning": False, "ignore_eos": True})
    a = client.chat.completions.create(**kwargs).choices[0].message.content
    b = client.chat.completions.create(**kwargs).choices[0].message.content
    assert a == b


def test_chat_tools_are_accepted(client):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, max_tokens=8, temperature=0)
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice="none",
                                       max_tokens=4, temperature=0)
    assert r.choices[0].message.tool_calls is None
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice="required",
                                       max_tokens=4)
    assert e.value.body["param"] == "tool_choice"


# --- completions --------------------------------------------------------------------------------------------------

PROMPT = "The ocean is deep and"


def test_completion_usage_echo_and_logprobs(server, client):
    r = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=2, echo=True,
                                  extra_body={"ignore_eos": True})
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    assert r.usage.prompt_tokens == tokenize(server, prompt=PROMPT)["count"]
    assert r.usage.completion_tokens == 6
    c = r.choices[0]
    assert c.text.startswith(PROMPT)
    assert c.finish_reason == "length"
    assert len(c.logprobs.tokens) == 6 and len(c.logprobs.token_logprobs) == 6
    assert all(len(t) >= 1 for t in c.logprobs.top_logprobs)
    assert c.logprobs.text_offset == sorted(c.logprobs.text_offset)


def test_completion_token_prompt(server, client):
    ids = tokenize(server, prompt=PROMPT)["tokens"]
    by_ids = client.completions.create(model=MODEL, prompt=ids, max_tokens=8, temperature=0)
    by_text = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0)
    assert by_ids.usage.prompt_tokens == len(ids)
    assert by_ids.choices[0].text == by_text.choices[0].text


def test_completion_stream_equals_non_stream(client):
    kwargs = dict(model=MODEL, prompt=PROMPT, max_tokens=24, temperature=0, seed=9)
    whole = client.completions.create(**kwargs)
    text, finish = "", None
    for chunk in client.completions.create(stream=True, **kwargs):
        for c in chunk.choices:
            text += c.text
            finish = c.finish_reason or finish
    assert text == whole.choices[0].text
    assert finish == whole.choices[0].finish_reason


def test_stop_string_cuts_before_it(client):
    base = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=40, temperature=0,
                                     extra_body={"ignore_eos": True}).choices[0].text
    # A stop string from the middle of the greedy output, whose first occurrence is where we take it.
    stop, at = None, None
    for i in range(max(1, len(base) // 3), len(base) - 2):
        cand = base[i:i + 3]
        if "\ufffd" not in cand and cand.strip() and base.find(cand) == i:
            stop, at = cand, i
            break
    if stop is None:
        pytest.skip(f"no usable stop string in the greedy output {base!r}")
    r = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=40, temperature=0, stop=[stop],
                                  extra_body={"ignore_eos": True})
    assert r.choices[0].text == base[:at]
    assert r.choices[0].finish_reason == "stop"


# --- errors -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,param", [
    (dict(max_tokens=-1), "max_tokens"),
    (dict(n=0), "n"),
    (dict(temperature=3), "temperature"),
    (dict(logprobs=True, top_logprobs=99), "top_logprobs"),
    (dict(top_p=0), "top_p"),
    (dict(stop=[1, 2]), "stop[0]"),
    (dict(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (dict(messages=[]), "messages"),
])
def test_chat_bad_requests(client, kwargs, param):
    body = dict(model=MODEL, messages=MESSAGES)
    body.update(kwargs)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(**body)
    assert e.value.status_code == 400
    assert e.value.body["param"] == param
    assert e.value.body["type"] == "invalid_request_error"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert e.value.body["code"] == "model_not_found"


def test_overlong_prompt_is_context_length_exceeded(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt=[5] * MAX_MODEL_LEN, max_tokens=4)
    assert e.value.body["code"] == "context_length_exceeded"
    # One token short of the context fits, with max_tokens clamped to what is left.
    r = client.completions.create(model=MODEL, prompt=[5] * (MAX_MODEL_LEN - 1), max_tokens=50, temperature=0)
    assert r.usage.completion_tokens == 1


@pytest.mark.parametrize("method,path,body,status", [
    ("POST", "/v1/chat/completions", b"{not json", 400),
    ("POST", "/v1/chat/completions", b"[1, 2]", 400),
    ("POST", "/v1/chat/completions", b'{"messages": "hi"}', 400),
    ("POST", "/v1/completions", b'{"prompt": ["a", "b"]}', 400),
    ("POST", "/v1/completions", b'{"prompt": "x", "max_tokens": 1e400}', 400),
    ("POST", "/v1/completions", b'{"prompt": "x", "junk": ' + b"[" * 10000 + b"]" * 10000 + b"}", 400),
    ("POST", "/tokenize", b'{"prompt": 5}', 400),
    ("POST", "/tokenize", b'{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "bogus"}]}', 400),
    ("POST", "/tokenize", b'{"messages": [{"role": "user", "content": "hi"}], "tools": [5]}', 400),
    ("GET", "/v1/nope", None, 404),
    ("POST", "/nope", b"{}", 404),
    ("GET", "/v1/chat/completions", None, 405),
    ("DELETE", "/v1/models", None, 405),
])
def test_raw_error_paths(server, method, path, body, status):
    r = httpx.request(method, server.base + path, content=body, headers={"Content-Type": "application/json"},
                      timeout=30)
    assert r.status_code == status, r.text
    assert_error_shape(r.json(), status)


HOSTILE_JUNK = [None, True, -1, 0, 2**70, -1e308, 1.5, "", "x" * 300, [], [None], {}, {"a": [1, {"b": "c"}]},
                "<think>", [[1, 2]], [-5], {"role": "user"}, "\ud800"]
HOSTILE_KEYS = ["model", "messages", "prompt", "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "seed",
                "logprobs", "top_logprobs", "logit_bias", "tools", "tool_choice", "stream", "stream_options", "echo",
                "tokens", "stop_token_ids", "min_p", "presence_penalty", "max_completion_tokens", "include_reasoning"]


def hostile_bodies(rng, base, count, junk, stream):
    """`count` (path, body) pairs: a body of `base` with one to three keys set to junk, "stream" forced."""
    for _ in range(count):
        path, body = rng.choice(base)
        body = dict(body)
        for _ in range(rng.randint(1, 3)):
            body[rng.choice(HOSTILE_KEYS)] = rng.choice(junk)
        body["stream"] = stream
        yield path, body


def test_hostile_bodies_never_500(server):
    """Random mutations of valid bodies: every answer is 200 or an OpenAI-shaped 4xx."""
    base = [("/v1/chat/completions", {"model": MODEL, "messages": MESSAGES, "max_tokens": 2}),
            ("/v1/completions", {"model": MODEL, "prompt": PROMPT, "max_tokens": 2}),
            ("/tokenize", {"prompt": PROMPT}), ("/detokenize", {"tokens": [1, 2]})]
    with httpx.Client(base_url=server.base, timeout=30) as c:
        for path, body in hostile_bodies(random.Random(7), base, 150, HOSTILE_JUNK, stream=False):
            r = c.post(path, content=json.dumps(body))
            assert r.status_code in (200, 400, 404, 413), (r.status_code, body, r.text)
            if r.status_code != 200:
                assert_error_shape(r.json(), r.status_code)
    assert httpx.get(server.base + "/health").status_code == 200


def test_hostile_streaming_bodies(server):
    """The same mutations with stream=True: no 5xx, and every 200 is a well-formed SSE stream ending in [DONE]."""
    base = [("/v1/chat/completions", {"model": MODEL, "messages": MESSAGES, "max_tokens": 2}),
            ("/v1/completions", {"model": MODEL, "prompt": PROMPT, "max_tokens": 2})]
    junk = HOSTILE_JUNK + [{"include_usage": True}, {"include_usage": "yes"}]
    num_ok = 0
    with httpx.Client(base_url=server.base, timeout=30) as c:
        for path, body in hostile_bodies(random.Random(11), base, 40, junk, stream=True):
            r = c.post(path, content=json.dumps(body))
            assert r.status_code < 500, (r.status_code, body, r.text)
            if r.status_code != 200:
                assert_error_shape(r.json(), r.status_code)
                continue
            num_ok += 1
            assert r.headers["content-type"].startswith("text/event-stream")
            events = [e for e in r.text.split("\n\n") if e and not e.startswith(":")]
            assert events and events[-1] == "data: [DONE]", (body, r.text)
            for e in events[:-1]:
                assert e.startswith("data: "), (body, e)
                assert isinstance(json.loads(e[6:]), dict)
    assert num_ok > 0


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    """The tiny model with 256 layers: 4 choices of 500 tokens take about 14 s on 2 cores."""
    out = tmp_path_factory.mktemp("models") / "slow-qwen2"
    subprocess.run([str(FATHOM), "synth", "--quiet", "--arch", "qwen2", "--preset", "tiny", "--layers", "256",
                    "--out", str(out), "--seed", "0"], check=True)
    return out


def test_non_streaming_client_that_leaves_is_cancelled(slow_model):
    """A non-streaming client that times out is noticed (the heartbeat space fails to write) and its request aborted."""
    with running_server(slow_model, "--served-model-name", MODEL, "--kv-cache-mem", "256M") as s:
        # The heartbeat is leading JSON whitespace: clients parse the body as before.
        with openai.OpenAI(base_url=s.base + "/v1", api_key="unused", max_retries=0, timeout=60) as c:
            # About 3 s, so the body starts with heartbeat spaces.
            r = c.completions.create(model=MODEL, prompt=PROMPT, max_tokens=150, n=4, extra_body={"ignore_eos": True})
            assert r.usage.completion_tokens == 600 and len(r.choices) == 4
        raw = httpx.post(s.base + "/v1/completions", timeout=60,
                         json={"model": MODEL, "prompt": PROMPT, "max_tokens": 150, "n": 4, "ignore_eos": True})
        assert raw.status_code == 200 and raw.text.startswith(" ") and raw.json()["usage"]["completion_tokens"] == 600
        aborted = 'fathom_request_success_total{finished_reason="abort"}'
        before = metric_value(httpx.get(s.base + "/metrics").text, aborted)
        body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 4000, "ignore_eos": True, "n": 4}
        start = time.time()
        with pytest.raises(httpx.TimeoutException):
            httpx.post(s.base + "/v1/completions", json=body, timeout=0.5)
        while True:
            text = httpx.get(s.base + "/metrics").text
            if metric_value(text, "fathom_num_requests_running") == 0 and metric_value(text, aborted) > before:
                break
            assert time.time() - start < 6, text  # the full answer would take about 14 s
            time.sleep(0.1)
        assert metric_value(text, aborted) == before + 4  # every choice


def test_oversized_body_is_413(server):
    r = httpx.post(server.base + "/v1/completions", content=b"x" * (9 << 20),
                   headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413
    assert_error_shape(r.json(), 413)


# --- operations ---------------------------------------------------------------------------------------------------

def test_metrics_pass_promtool(server, client):
    client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=4, temperature=0)
    r = httpx.get(server.base + "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in ["fathom_requests_total", "fathom_time_to_first_token_seconds", "fathom_inter_token_latency_seconds",
                 "fathom_e2e_request_latency_seconds", "fathom_prompt_tokens_total",
                 "fathom_generation_tokens_total", "fathom_num_requests_running", "fathom_num_requests_waiting",
                 "fathom_kv_cache_blocks_used", "fathom_kv_cache_num_blocks", "fathom_kv_cache_usage_ratio",
                 "fathom_prefix_cache_queries_total", "fathom_prefix_cache_hits_total",
                 "fathom_num_preemptions_total", "fathom_request_success_total"]:
        assert f"\n{name}" in "\n" + text, name
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def last_finish_reason(lines):
    """The last finish_reason in the rest of an SSE stream's lines."""
    finish = None
    for line in lines:
        if line.startswith("data: {"):
            for c in json.loads(line[6:]).get("choices", []):
                finish = c.get("finish_reason") or finish
    return finish


def test_sigterm_drains_and_exits_zero(tiny_model):
    with running_server(tiny_model, "--served-model-name", MODEL, "--max-model-len", str(MAX_MODEL_LEN),
                        "--kv-cache-mem", "16M", "--shutdown-grace", "10") as s:
        with httpx.stream("POST", s.base + "/v1/completions", timeout=60,
                          json={"model": MODEL, "prompt": PROMPT, "max_tokens": 200, "stream": True,
                                "ignore_eos": True}) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            next(line for line in lines if line.startswith("data: "))  # generation is under way
            start = time.time()
            s.proc.send_signal(signal.SIGTERM)
            assert last_finish_reason(lines) in ("length", "abort")
        assert s.proc.wait(timeout=15) == 0
        assert time.time() - start < 12


def test_second_signal_aborts_the_grace_period(slow_model):
    with running_server(slow_model, "--served-model-name", MODEL, "--kv-cache-mem", "256M",
                        "--shutdown-grace", "300") as s:
        with httpx.stream("POST", s.base + "/v1/completions", timeout=60,
                          json={"model": MODEL, "prompt": PROMPT, "max_tokens": 4000, "stream": True,
                                "ignore_eos": True, "n": 4}) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            next(line for line in lines if line.startswith("data: "))
            start = time.time()
            s.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert s.proc.poll() is None  # draining
            s.proc.send_signal(signal.SIGINT)
            assert last_finish_reason(lines) == "abort"
        assert s.proc.wait(timeout=15) == 0
        assert time.time() - start < 10
