"""The OpenAI-compatible endpoint of `bedrock-stream serve`, driven by the official openai Python
SDK, against a local-bedrock (scripted engine) through the real Rust AWS SDK inside serve."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import openai
import pytest

from conftest import LocalBedrock, binary_path
from test_boto3 import scripted_tokens

SERVE_LISTENING = re.compile(r"serve listening on (http://127\.0\.0\.1:\d+)")
QUESTION = "Explain serverless to a 5th grader."


class Serve:
    def __init__(self, bedrock_url: str) -> None:
        env = dict(os.environ, AWS_MAX_ATTEMPTS="1", RUST_LOG="warn")
        self.url = None
        self.lines: list[str] = []
        found = threading.Event()
        self.proc = subprocess.Popen(
            [str(binary_path()), "serve", "--listen", "127.0.0.1:0", "--bedrock", bedrock_url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env=env,
        )

        def read():
            for line in self.proc.stderr:
                self.lines.append(line)
                m = SERVE_LISTENING.search(line)
                if m and self.url is None:
                    self.url = m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(20) or self.url is None:
            self.stop()
            raise RuntimeError("serve did not start:\n" + "".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def stack():
    bedrock = LocalBedrock("--chunk-delay-ms", "15")
    serve = Serve(bedrock.url)
    yield bedrock, serve
    serve.stop()
    bedrock.stop()


@pytest.fixture()
def oai(stack):
    bedrock, serve = stack
    bedrock.clear_faults()
    client = openai.OpenAI(base_url=f"{serve.url}/v1", api_key="unused", max_retries=0, timeout=20)
    yield client
    bedrock.clear_faults()
    client.close()


MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def test_streaming_chat_completion_grows_over_time(oai):
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, times, finish, usage = [], [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
                times.append(time.monotonic())
            if choice.finish_reason:
                finish = choice.finish_reason
    text = "".join(pieces)
    # With a system prompt the scripted engine seeds from "system\nuser\n".
    assert text == "".join(scripted_tokens(QUESTION, flat=f"Be brief.\n{QUESTION}\n"))
    assert finish == "stop"
    assert usage.completion_tokens == len(text.split())
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(pieces) >= 20
    assert sum(g >= 0.008 for g in gaps) >= len(gaps) // 2, gaps


def test_non_streaming_and_limits(oai):
    r = oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=5)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5
    assert r.choices[0].message.content == "".join(scripted_tokens(QUESTION, max_tokens=5))
    r = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], stop=["serverless"],
        max_completion_tokens=50,
    )
    assert r.choices[0].message.content == "Scripted answer to: Explain "
    assert r.choices[0].finish_reason == "stop"


def test_models_list(oai):
    ids = [m.id for m in oai.models.list()]
    assert MODEL in ids and len(ids) >= 5


def test_errors_are_openai_errors(stack, oai):
    bedrock, _ = stack
    bedrock.inject("throttle")
    with pytest.raises(openai.RateLimitError) as e:
        oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
    assert e.value.status_code == 429
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="acme.nothing-v1", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model=MODEL, messages=[{"role": "tool", "content": "hi"}])
    # After the stream started: the SDK raises on the error chunk, after the partial text.
    bedrock.inject("midstream", after=4)
    got = []
    with pytest.raises(openai.APIError) as e:
        for chunk in oai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True
        ):
            got.extend(c.delta.content or "" for c in chunk.choices)
    assert "model_stream_error" in str(e.value.body) or "injected" in str(e.value)
    assert "".join(got).startswith("Scripted answer")


def test_what_is_not_carried_is_refused_by_name(oai):
    """Fields that would change the answer and cannot be carried are 400s naming them, in
    OpenAI's error shape, as the SDK's BadRequestError."""
    hi = [{"role": "user", "content": "hi"}]
    cases = [
        (dict(n=2), "`n`"),
        (dict(seed=7), "`seed`"),
        (dict(logprobs=True), "`logprobs`"),
        (dict(frequency_penalty=0.5), "`frequency_penalty`"),
        (dict(extra_body={"top_k": 5}), "`top_k`"),
        (
            dict(messages=[{"role": "user", "content": [
                {"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ]}]),
            "ALLOW_IMAGE_URLS",
        ),
        (dict(model="amazon.titan-text-express-v1", reasoning_effort="low"), "not a reasoning model"),
    ]
    for extra, want in cases:
        kwargs = dict(model=MODEL, messages=hi)
        kwargs.update(extra)
        with pytest.raises(openai.BadRequestError) as e:
            oai.chat.completions.create(**kwargs)
        assert e.value.status_code == 400
        assert want in e.value.body["message"], (want, e.value.body)
        assert e.value.body["type"] == "invalid_request_error"


def test_fields_that_cannot_change_the_answer_are_accepted(oai):
    plain = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=6
    )
    decorated = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=6,
        n=1, user="u-1", metadata={"app": "tests"}, store=False, presence_penalty=0,
        logprobs=False, parallel_tool_calls=True, response_format={"type": "text"},
        prompt_cache_key="k", safety_identifier="s", service_tier="auto",
    )
    assert decorated.choices[0].message.content == plain.choices[0].message.content
    assert decorated.usage.prompt_tokens == plain.usage.prompt_tokens


def test_model_lookup(oai):
    m = oai.models.retrieve(MODEL)
    assert m.id == MODEL and m.object == "model" and m.owned_by == "anthropic"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("us.anthropic.a b")
