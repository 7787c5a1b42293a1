"""The local Bedrock endpoint through boto3, unchanged except for endpoint_url: every model
family streamed and not, ConverseStream and Converse, every pre-stream fault as the modelled
ClientError, every in-stream exception raised by boto3's EventStream, corrupted and truncated
streams, chunks spread in time, and model ids in every form (URL-encoded by botocore)."""

from __future__ import annotations

import json
import time

import boto3
import botocore.eventstream
import botocore.exceptions
import pytest
import urllib3.exceptions
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

QUESTION = "Explain serverless to a 5th grader."

# --- The scripted engine's deterministic text, computed independently of the endpoint --------

_MASK = (1 << 64) - 1
_VOCABULARY = [
    "streaming", "serverless", "lambda", "bedrock", "token", "chunk", "answer", "cloud",
    "fast", "small", "rust", "model", "function", "request", "response", "event",
    "café", "naïve", "über", "日本語", "✓", "🚀", "latency", "memory",
    "byte", "frame", "header", "prompt", "stream", "text", "quick", "honest",
]


def _fnv1a(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & _MASK
    return h


def scripted_tokens(last_user: str, flat: str | None = None, max_tokens: int | None = None) -> list[str]:
    """What `--engine scripted` answers (crates/bedrock-local/src/engines/scripted.rs): "Scripted
    answer to: " + the first 6 words of the last user message, then words picked by a
    xorshift seeded with FNV-1a of the flattened prompt; one token per word."""
    if flat is None:
        flat = last_user + "\n"
    words = ["Scripted", "answer", "to:", *last_user.split()[:6]]
    seed = _fnv1a(flat) | 1
    natural = 24 + seed % 40
    while len(words) < natural:
        seed ^= (seed << 13) & _MASK
        seed ^= seed >> 7
        seed ^= (seed << 17) & _MASK
        words.append(_VOCABULARY[seed % len(_VOCABULARY)])
    words[-1] += "."
    tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
    limit = 256 if max_tokens is None else max_tokens
    return tokens[:limit]


EXPECTED_TOKENS = scripted_tokens(QUESTION, max_tokens=300)
EXPECTED = "".join(EXPECTED_TOKENS)
INPUT_TOKENS = len(QUESTION.split())


def test_expected_text_is_the_documented_shape():
    assert EXPECTED.startswith("Scripted answer to: Explain serverless to a 5th grader.")
    assert 24 <= len(EXPECTED_TOKENS) < 64


# --- Model families: ids and bodies as in crates/bedrock-local/tests/sdk.rs -------------------


def _anthropic_messages_text(c):
    if c.get("type") == "content_block_delta" and c["delta"].get("type") == "text_delta":
        return c["delta"]["text"]
    return None


def _openai_chat_text(c):
    choice = (c.get("choices") or [{}])[0]
    msg = choice.get("delta") or choice.get("message") or {}
    return msg.get("content") or None


def _cohere_text(c):
    if c.get("event_type") in (None, "text-generation"):
        return c.get("text") or None
    return None


def _nova_text(c):
    return c.get("contentBlockDelta", {}).get("delta", {}).get("text")


FAMILIES = {
    # family: (model id, request body, stream chunk -> text, non-streaming body -> text)
    "anthropic-text": (
        "anthropic.claude-v2",
        {"prompt": f"\n\nHuman: {QUESTION}\n\nAssistant:", "max_tokens_to_sample": 300},
        lambda c: c.get("completion") or None,
        lambda b: b["completion"],
    ),
    "anthropic-messages": (
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 300,
            "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
        },
        _anthropic_messages_text,
        lambda b: "".join(part["text"] for part in b["content"] if part["type"] == "text"),
    ),
    "titan": (
        "amazon.titan-text-express-v1",
        {"inputText": QUESTION, "textGenerationConfig": {"maxTokenCount": 300}},
        lambda c: c.get("outputText") or None,
        lambda b: b["results"][0]["outputText"],
    ),
    "llama": (
        "meta.llama3-8b-instruct-v1:0",
        {
            "prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
            f"{QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            "max_gen_len": 300,
        },
        lambda c: c.get("generation") or None,
        lambda b: b["generation"],
    ),
    "mistral": (
        "mistral.mistral-7b-instruct-v0:2",
        {"prompt": f"<s>[INST] {QUESTION} [/INST]", "max_tokens": 300},
        lambda c: c["outputs"][0].get("text") or None,
        lambda b: b["outputs"][0]["text"],
    ),
    "mistral-chat": (
        "mistral.mistral-large-2407-v1:0",
        {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 300},
        _openai_chat_text,
        lambda b: b["choices"][0]["message"]["content"],
    ),
    "cohere": (
        "cohere.command-text-v14",
        {"prompt": QUESTION, "max_tokens": 300},
        _cohere_text,
        lambda b: b["generations"][0]["text"],
    ),
    "cohere-chat": (
        "cohere.command-r-v1:0",
        {"message": QUESTION, "max_tokens": 300},
        _cohere_text,
        lambda b: b["text"],
    ),
    "nova": (
        "eu.amazon.nova-lite-v1:0",
        {
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
            "inferenceConfig": {"max_new_tokens": 300},
        },
        _nova_text,
        lambda b: "".join(part["text"] for part in b["output"]["message"]["content"]),
    ),
    "openai-chat": (
        "ai21.jamba-1-5-mini-v1:0",
        {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 300},
        _openai_chat_text,
        lambda b: b["choices"][0]["message"]["content"],
    ),
    "openai-text": (
        "us.deepseek.r1-v1:0",
        {"prompt": QUESTION, "max_tokens": 300},
        lambda c: (c.get("choices") or [{}])[0].get("text") or None,
        lambda b: b["choices"][0]["text"],
    ),
}


def stream_chunks(client, model_id: str, body: dict):
    """InvokeModelWithResponseStream; returns the response, the decoded chunks and the
    monotonic arrival time of each chunk."""
    response = client.invoke_model_with_response_stream(
        modelId=model_id,
        body=json.dumps(body),
        contentType="application/json",
        accept="application/json",
    )
    chunks, times = [], []
    for event in response["body"]:
        assert set(event) == {"chunk"}, event
        times.append(time.monotonic())
        chunks.append(json.loads(event["chunk"]["bytes"]))
    return response, chunks, times


@pytest.mark.parametrize("family", list(FAMILIES))
def test_invoke_model_with_response_stream_every_family(client, family):
    model_id, body, chunk_text, _ = FAMILIES[family]
    response, chunks, _ = stream_chunks(client, model_id, body)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["contentType"] == "application/json"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    assert response["ResponseMetadata"]["RequestId"]

    text = "".join(t for t in map(chunk_text, chunks) if t)
    assert text == EXPECTED
    # Streamed, not one blob: one chunk per scripted token at least.
    assert len(chunks) >= len(EXPECTED_TOKENS)

    metrics = chunks[-1].get("amazon-bedrock-invocationMetrics")
    assert metrics is not None, chunks[-1]
    assert metrics["inputTokenCount"] == INPUT_TOKENS
    assert metrics["outputTokenCount"] == len(EXPECTED_TOKENS)
    assert isinstance(metrics["invocationLatency"], int)
    assert isinstance(metrics["firstByteLatency"], int)
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_invoke_model_every_family(client, family):
    model_id, body, _, response_text = FAMILIES[family]
    response = client.invoke_model(
        modelId=model_id, body=json.dumps(body), contentType="application/json", accept="application/json"
    )
    assert response["contentType"] == "application/json"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == INPUT_TOKENS
    assert int(headers["x-amzn-bedrock-output-token-count"]) == len(EXPECTED_TOKENS)
    assert response_text(json.loads(response["body"].read())) == EXPECTED


# --- Converse ---------------------------------------------------------------------------------


def test_converse_stream_events(client):
    response = client.converse_stream(
        modelId="us.amazon.nova-pro-v1:0",
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
        inferenceConfig={"maxTokens": 300},
    )
    kinds, text, usage, stop_reason, metrics = [], "", None, None, None
    for event in response["stream"]:
        (kind,) = event.keys()
        kinds.append(kind)
        if kind == "contentBlockDelta":
            assert event[kind]["contentBlockIndex"] == 0
            text += event[kind]["delta"]["text"]
        elif kind == "messageStart":
            assert event[kind]["role"] == "assistant"
        elif kind == "messageStop":
            stop_reason = event[kind]["stopReason"]
        elif kind == "metadata":
            usage = event[kind]["usage"]
            metrics = event[kind]["metrics"]
    assert kinds[0] == "messageStart"
    assert kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert set(kinds[1:-3]) <= {"contentBlockStart", "contentBlockDelta"}
    assert kinds.count("contentBlockDelta") >= len(EXPECTED_TOKENS)
    assert text == EXPECTED
    assert stop_reason == "end_turn"
    assert usage["inputTokens"] == INPUT_TOKENS
    assert usage["outputTokens"] == len(EXPECTED_TOKENS)
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert isinstance(metrics["latencyMs"], int)


def test_converse_non_streaming(client):
    response = client.converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 4},
    )
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 4
    message = response["output"]["message"]
    assert message["role"] == "assistant"
    # With a system prompt the seed changes but the echo does not: the first 4 tokens are fixed.
    assert message["content"][0]["text"] == "Scripted answer to: Explain"
    assert isinstance(response["metrics"]["latencyMs"], int)


def test_converse_full_answer_matches_the_stream(client):
    response = client.converse(
        modelId="amazon.nova-micro-v1:0",
        messages=[{"role": "user", "content": [{"text": QUESTION}]}],
        inferenceConfig={"maxTokens": 300},
    )
    assert response["stopReason"] == "end_turn"
    assert response["output"]["message"]["content"][0]["text"] == EXPECTED
    assert response["usage"]["outputTokens"] == len(EXPECTED_TOKENS)


# --- Bad requests -------------------------------------------------------------------------------


def test_malformed_and_unknown_requests_are_bedrock_errors(client):
    with pytest.raises(client.exceptions.ValidationException) as e:
        client.invoke_model_with_response_stream(modelId="anthropic.claude-v2", body=b"{not json")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    with pytest.raises(client.exceptions.ValidationException) as e:
        client.invoke_model(
            modelId="anthropic.claude-v2",
            body=json.dumps({"prompt": "\n\nHuman: hi\n\nAssistant:"}),
        )
    assert "max_tokens_to_sample" in e.value.response["Error"]["Message"]

    # A well-formed id Bedrock does not know: its ValidationException
    # (crates/bedrock-families/tests/fixtures/errors/invalid-model-identifier-invoke-stream.json).
    with pytest.raises(client.exceptions.ValidationException) as e:
        client.invoke_model(modelId="acme.unknown-model-v1", body=json.dumps({"prompt": "hi"}))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.value.response["Error"]["Message"] == "The provided model identifier is invalid."


# --- Faults before the stream --------------------------------------------------------------------

PRE_STREAM_FAULTS = {
    # fault kind: (modelled error code, HTTP status)
    "throttle": ("ThrottlingException", 429),
    "validation": ("ValidationException", 400),
    "internal": ("InternalServerException", 500),
    "model-timeout": ("ModelTimeoutException", 408),
    "service-unavailable": ("ServiceUnavailableException", 503),
    "model-not-ready": ("ModelNotReadyException", 429),
    "access-denied": ("AccessDeniedException", 403),
    "model-error": ("ModelErrorException", 424),
}

ANTHROPIC_TEXT_BODY = json.dumps(FAMILIES["anthropic-text"][1])


def _check_client_error(client, err: ClientError, code: str, status: int, operation: str):
    assert err.response["Error"]["Code"] == code
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert err.response["Error"]["Message"]
    assert err.operation_name == operation
    assert err.response["ResponseMetadata"]["RequestId"]
    assert err.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].split(":")[0] == code
    if code == "ModelErrorException":
        # The extra members the wire model gives this shape come through parsed.
        assert isinstance(err.response["originalStatusCode"], int)
        assert err.response["resourceName"]
    # The modelled exception class, and the status the wire model gives that shape.
    assert isinstance(err, getattr(client.exceptions, code))
    shape = client.meta.service_model.shape_for(code)
    assert shape.metadata["error"]["httpStatusCode"] == status


@pytest.mark.parametrize("kind", list(PRE_STREAM_FAULTS))
def test_pre_stream_fault_invoke_with_response_stream(bedrock, client, kind):
    code, status = PRE_STREAM_FAULTS[kind]
    bedrock.inject(kind)
    with pytest.raises(ClientError) as e:
        client.invoke_model_with_response_stream(modelId="anthropic.claude-v2", body=ANTHROPIC_TEXT_BODY)
    _check_client_error(client, e.value, code, status, "InvokeModelWithResponseStream")
    # One-shot: the next call is healthy.
    _, chunks, _ = stream_chunks(client, "anthropic.claude-v2", FAMILIES["anthropic-text"][1])
    assert "".join(c["completion"] for c in chunks) == EXPECTED


@pytest.mark.parametrize("kind", list(PRE_STREAM_FAULTS))
def test_pre_stream_fault_other_operations(bedrock, client, kind):
    code, status = PRE_STREAM_FAULTS[kind]
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    calls = {
        "InvokeModel": lambda: client.invoke_model(modelId="anthropic.claude-v2", body=ANTHROPIC_TEXT_BODY),
        "ConverseStream": lambda: client.converse_stream(modelId="amazon.nova-micro-v1:0", messages=messages),
        "Converse": lambda: client.converse(modelId="amazon.nova-micro-v1:0", messages=messages),
    }
    for operation, call in calls.items():
        bedrock.inject(kind)
        with pytest.raises(ClientError) as e:
            call()
        _check_client_error(client, e.value, code, status, operation)
    for event in client.converse_stream(modelId="amazon.nova-micro-v1:0", messages=messages)["stream"]:
        pass


def test_botocore_retries_an_injected_throttle_when_asked(bedrock):
    """With retries on, botocore classifies the endpoint's 429 ThrottlingException as retryable
    and the second attempt succeeds, as against AWS."""
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=bedrock.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDLOCAL",
        aws_secret_access_key="local-secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=15),
    )
    bedrock.inject("throttle")
    response = client.invoke_model(modelId="anthropic.claude-v2", body=ANTHROPIC_TEXT_BODY)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert json.loads(response["body"].read())["completion"] == EXPECTED
    client.close()


# --- Exceptions inside the stream ---------------------------------------------------------------

IN_STREAM_EXCEPTIONS = [
    "internalServerException",
    "modelStreamErrorException",
    "throttlingException",
    "modelTimeoutException",
    "serviceUnavailableException",
    "validationException",
]


@pytest.mark.parametrize("exception", IN_STREAM_EXCEPTIONS)
def test_in_stream_exception_invoke(bedrock, client, exception):
    # Every in-stream exception is a member of the ResponseStream union in the wire model.
    union = client.meta.service_model.shape_for("ResponseStream")
    assert exception in union.members
    bedrock.inject("midstream", exception=exception, after=3)
    response = client.invoke_model_with_response_stream(
        modelId="meta.llama3-8b-instruct-v1:0", body=json.dumps(FAMILIES["llama"][1])
    )
    received = []
    with pytest.raises(EventStreamError) as e:
        for event in response["body"]:
            received.append(json.loads(event["chunk"]["bytes"]))
    assert len(received) == 3
    assert "".join(c["generation"] for c in received) == "".join(EXPECTED_TOKENS[:3])
    assert e.value.response["Error"]["Code"] == exception
    assert e.value.response["Error"]["Message"]
    assert e.value.operation_name == "InvokeModelWithResponseStream"


CONVERSE_STREAM_EXCEPTIONS = [
    "internalServerException",
    "modelStreamErrorException",
    "throttlingException",
    "serviceUnavailableException",
    "validationException",
]


@pytest.mark.parametrize("exception", CONVERSE_STREAM_EXCEPTIONS)
def test_in_stream_exception_converse_stream(bedrock, client, exception):
    union = client.meta.service_model.shape_for("ConverseStreamOutput")
    assert exception in union.members
    bedrock.inject("midstream", exception=exception, after=2)
    response = client.converse_stream(
        modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )
    received = []
    with pytest.raises(EventStreamError) as e:
        for event in response["stream"]:
            received.append(event)
    assert len(received) == 2
    assert "messageStart" in received[0]
    assert e.value.response["Error"]["Code"] == exception
    assert e.value.operation_name == "ConverseStream"


def test_converse_stream_in_stream_exceptions_stay_in_the_union(bedrock, client):
    union = client.meta.service_model.shape_for("ConverseStreamOutput")
    bedrock.inject("midstream", exception="modelTimeoutException", after=2)
    response = client.converse_stream(
        modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )
    with pytest.raises(EventStreamError) as e:
        for _ in response["stream"]:
            pass
    assert e.value.response["Error"]["Code"] in union.members, e.value.response


def test_bad_crc_raises(bedrock, client):
    bedrock.inject("bad-crc", after=2)
    response = client.invoke_model_with_response_stream(
        modelId="amazon.titan-text-express-v1", body=json.dumps(FAMILIES["titan"][1])
    )
    received = 0
    with pytest.raises(botocore.eventstream.ChecksumMismatch):
        for _ in response["body"]:
            received += 1
    assert received == 2


def test_truncated_stream_ends_without_the_final_chunk(bedrock, client):
    """What boto3 can tell today: the stream stops early and the invocation metrics never come."""
    bedrock.inject("truncate", after=2)
    response = client.invoke_model_with_response_stream(
        modelId="amazon.titan-text-express-v1", body=json.dumps(FAMILIES["titan"][1])
    )
    received = []
    try:
        for event in response["body"]:
            received.append(json.loads(event["chunk"]["bytes"]))
    except (botocore.exceptions.BotoCoreError, urllib3.exceptions.HTTPError):
        pass
    assert len(received) == 2
    assert all("amazon-bedrock-invocationMetrics" not in c for c in received)


def test_truncated_stream_raises(bedrock, client):
    bedrock.inject("truncate", after=2)
    response = client.invoke_model_with_response_stream(
        modelId="amazon.titan-text-express-v1", body=json.dumps(FAMILIES["titan"][1])
    )
    received = 0
    with pytest.raises((botocore.exceptions.BotoCoreError, urllib3.exceptions.HTTPError)):
        for _ in response["body"]:
            received += 1
    assert received == 2


def test_stalled_stream_times_out(bedrock):
    client = bedrock.client(read_timeout=1.5)
    bedrock.inject("stall", after=2)
    response = client.invoke_model_with_response_stream(
        modelId="amazon.titan-text-express-v1", body=json.dumps(FAMILIES["titan"][1])
    )
    received = 0
    started = time.monotonic()
    # urllib3's ReadTimeoutError (botocore's own ReadTimeoutError subclasses it).
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        for _ in response["body"]:
            received += 1
    assert received == 2
    assert time.monotonic() - started < 10
    response["body"].close()
    client.close()


# --- Streaming proven by timing ------------------------------------------------------------------


def test_chunks_arrive_spread_in_time(paced_bedrock):
    client = paced_bedrock.client()
    body = {"prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 10}
    started = time.monotonic()
    _, chunks, times = stream_chunks(client, "anthropic.claude-v2", body)
    assert len(chunks) == 11, "10 text chunks and the final one"
    assert "".join(c["completion"] for c in chunks) == "".join(scripted_tokens("hi", max_tokens=10))
    gaps = [b - a for a, b in zip(times, times[1:])]
    # The engine waits 40 ms before each text chunk after the first: 9 paced gaps. Each arrives
    # on its own, close to 40 ms after the previous one; nothing was buffered and released at once.
    paced = [g for g in gaps if g >= 0.025]
    assert len(paced) >= 8, gaps
    assert times[-2] - times[0] >= 0.30, gaps
    # The first chunk came long before the last: the client saw text while the model wrote.
    assert times[0] - started < times[-1] - times[0], (times[0] - started, gaps)
    client.close()


# --- Model ids in every form, URL-encoded by botocore ------------------------------------------

MODEL_IDS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "global.anthropic.claude-sonnet-4-20250514-v1:0",
    "apac.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def",
]


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_model_ids_in_every_form(client, model_id):
    captured = {}

    def capture(request, **_):
        captured["url"] = request.url

    client.meta.events.register("before-send.bedrock-runtime.*", capture)
    _, chunks, _ = stream_chunks(client, model_id, FAMILIES["anthropic-messages"][1])
    text = "".join(t for t in map(_anthropic_messages_text, chunks) if t)
    assert text == EXPECTED
    if ":" in model_id or "/" in model_id:
        # botocore sends the id as one URL-encoded path segment.
        path = captured["url"].split("/model/", 1)[1]
        segment = path.rsplit("/invoke-with-response-stream", 1)[0]
        assert "/" not in segment and ":" not in segment, captured["url"]
        assert "%3A" in segment


# --- Tools, images, documents, reasoning, prompt caching (issue 12) -------------------------------

import base64  # noqa: E402
import pathlib  # noqa: E402
import struct  # noqa: E402
import zlib  # noqa: E402

import jsonschema  # noqa: E402

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET4 = "us.anthropic.claude-sonnet-4-20250514-v1:0"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "coords": {
            "type": "object",
            "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number"}},
            "required": ["lat", "lon"],
        },
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "note": {"type": ["string", "null"]},
    },
    "required": ["city", "unit", "coords"],
    "additionalProperties": False,
}
TOOLS = [
    {"toolSpec": {"name": "get_weather", "description": "Weather for a city", "inputSchema": {"json": WEATHER_SCHEMA}}},
    {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object", "properties": {"zone": {"type": "string"}}}}}},
]


def png(width: int, height: int) -> bytes:
    """A real RGB PNG (zlib-compressed rows, CRCs and all)."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 4 % 256, y * 5 % 256, 128)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def read_stream(response):
    """Collects a ConverseStream: event kinds with block indexes, and the pieces per block."""
    out = {"kinds": [], "starts": {}, "input": {}, "text": {}, "reasoning": {}, "signature": {}, "stop": None, "usage": None}
    for event in response["stream"]:
        (kind,) = event.keys()
        body = event[kind]
        index = body.get("contentBlockIndex")
        out["kinds"].append((kind, index))
        if kind == "contentBlockStart":
            out["starts"][index] = body["start"]["toolUse"]
        elif kind == "contentBlockDelta":
            delta = body["delta"]
            if "text" in delta:
                out["text"][index] = out["text"].get(index, "") + delta["text"]
            elif "toolUse" in delta:
                out["input"].setdefault(index, []).append(delta["toolUse"]["input"])
            elif "signature" in delta["reasoningContent"]:
                out["signature"][index] = delta["reasoningContent"]["signature"]
            else:
                out["reasoning"][index] = out["reasoning"].get(index, "") + delta["reasoningContent"]["text"]
        elif kind == "messageStop":
            out["stop"] = body["stopReason"]
        elif kind == "metadata":
            out["usage"] = body["usage"]
    return out


def test_converse_stream_tool_round_trip(client):
    question = {"role": "user", "content": [{"text": "What is the weather in Paris? Use get_weather."}]}
    # A forced call: one toolUse block whose input streams in fragments, the first one "".
    s = read_stream(
        client.converse_stream(
            modelId=HAIKU, messages=[question], toolConfig={"tools": TOOLS, "toolChoice": {"any": {}}}
        )
    )
    assert s["stop"] == "tool_use"
    assert s["kinds"][1] == ("contentBlockStart", 0)
    start = s["starts"][0]
    assert start["name"] == "get_weather" and start["toolUseId"].startswith("tooluse_")
    fragments = s["input"][0]
    assert fragments[0] == "" and len(fragments) >= 4, fragments
    arguments = json.loads("".join(fragments))
    jsonschema.validate(arguments, WEATHER_SCHEMA)
    assert s["text"] == {}
    assert s["usage"]["outputTokens"] == len(fragments) - 1

    # The result goes back; the answer quotes it.
    history = [
        question,
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": start["toolUseId"], "name": "get_weather", "input": arguments}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": start["toolUseId"], "content": [{"json": {"temp": 21}}, {"text": "sunny"}]}}]},
    ]
    s = read_stream(client.converse_stream(modelId=HAIKU, messages=history, toolConfig={"tools": TOOLS}))
    assert s["stop"] == "end_turn"
    assert s["text"][0] == 'The tool get_weather returned: {"temp":21} sunny.'

    # `auto`: a short text block, then the call at index 1.
    s = read_stream(client.converse_stream(modelId=HAIKU, messages=[question], toolConfig={"tools": TOOLS}))
    assert s["text"][0] == "Calling get_weather."
    assert list(s["starts"]) == [1]
    assert [i for k, i in s["kinds"] if k == "contentBlockStop"] == [0, 1]

    # Converse: the call with its input parsed.
    r = client.converse(modelId=HAIKU, messages=[question], toolConfig={"tools": TOOLS, "toolChoice": {"tool": {"name": "get_weather"}}})
    assert r["stopReason"] == "tool_use"
    assert r["output"]["message"]["content"][0]["toolUse"]["input"] == arguments


def test_images_and_documents_arrive_intact(client):
    notes = b"Quarterly numbers went up by ten percent."
    question = "What is in these?"
    s = read_stream(
        client.converse_stream(
            modelId=HAIKU,
            messages=[{"role": "user", "content": [
                {"text": question},
                {"image": {"format": "png", "source": {"bytes": png(64, 48)}}},
                {"document": {"format": "txt", "name": "notes", "source": {"bytes": notes}}},
            ]}],
        )
    )
    assert s["text"][0].startswith(
        f"Scripted answer to: {question} [image 1: png 64x48] [document notes: {len(notes)} bytes]"
    ), s["text"]
    assert s["usage"]["inputTokens"] == len(question.split()) + 64 * 48 // 750 + len(notes.split())


def test_reasoning_streams_before_the_answer(client):
    s = read_stream(
        client.converse_stream(
            modelId=SONNET4,
            messages=[{"role": "user", "content": [{"text": "Why is the sky blue?"}]}],
            inferenceConfig={"maxTokens": 4096},
            additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 2048}},
        )
    )
    assert s["reasoning"][0].startswith("Thinking about: Why is the sky blue?")
    assert s["signature"][0]
    assert s["text"][1].startswith("Scripted answer to: Why is the sky blue?")
    assert [i for k, i in s["kinds"] if k == "contentBlockStop"] == [0, 1]
    assert "contentBlockStart" not in [k for k, _ in s["kinds"]]


def test_cache_points_write_then_read(bedrock):
    # A fresh system prompt per run so the shared endpoint's cache starts empty for it.
    system = f"Run {time.time_ns()}: you answer questions about the weather. " * 40
    client = bedrock.client()
    call = lambda: client.converse(  # noqa: E731
        modelId=SONNET4,
        system=[{"text": system}, {"cachePoint": {"type": "default"}}],
        messages=[{"role": "user", "content": [{"text": "Will it rain?"}]}],
    )
    first, second = call()["usage"], call()["usage"]
    cached = len(system.split())
    assert (first["cacheWriteInputTokens"], first["cacheReadInputTokens"]) == (cached, 0)
    assert (second["cacheWriteInputTokens"], second["cacheReadInputTokens"]) == (0, cached)
    assert first["inputTokens"] == 3
    assert first["totalTokens"] == first["inputTokens"] + first["outputTokens"] + cached
    client.close()


# Every Converse request Bedrock refuses, with its message: the table all three client suites run.
CASES = json.loads((pathlib.Path(__file__).resolve().parents[1] / "validation-cases.json").read_text())["cases"]


def materialize(value):
    """`{"$bytes": ...}` markers as bytes (boto3 base64-encodes blobs itself)."""
    if isinstance(value, dict):
        if "$bytes" in value:
            spec = value["$bytes"]
            if "png" in spec:
                return png(*spec["png"])
            if "fill" in spec:
                return bytes(spec["fill"])
            return spec["utf8"].encode()
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


@pytest.fixture()
def unvalidated_client(bedrock):
    """botocore checks some constraints itself (list lengths); off, so the endpoint sees them."""
    c = boto3.client(
        "bedrock-runtime",
        endpoint_url=bedrock.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDLOCAL",
        aws_secret_access_key="local-secret",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}, read_timeout=15),
    )
    yield c
    c.close()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_validation_errors_are_bedrocks(unvalidated_client, case):
    call = getattr(unvalidated_client, case["operation"])
    with pytest.raises(unvalidated_client.exceptions.ValidationException) as e:
        call(modelId=case["modelId"], **materialize(case["request"]))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.value.response["Error"]["Message"] == case["message"]


def test_model_id_is_url_encoded_and_checked_against_the_pattern(client):
    with pytest.raises(client.exceptions.ValidationException) as e:
        client.converse(modelId="../../admin", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert e.value.response["Error"]["Message"].startswith(
        "1 validation error detected: Value '../../admin' at 'modelId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: (arn:aws(-[^:]+)?:bedrock:"
    )
