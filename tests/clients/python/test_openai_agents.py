"""Agents and multimodal through the OpenAI-compatible endpoint of `bedrock-stream serve`, with the
official openai Python SDK, against local-bedrock (scripted engine): a forced tool call streamed,
a tool round trip with role "tool", an image data URL, a json_schema answer that parses and
validates (the SDK's own `parse()` helper, with pydantic), and reasoning.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pydantic

from test_openai import oai, stack  # noqa: F401  (pytest fixtures)

# In the model catalog: tool use with tool choice any/tool, images, documents.
TOOLS_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
# In the model catalog with budget reasoning (an inference-profile id: profile only).
REASONING_MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def png(width: int, height: int) -> bytes:
    """A real RGB PNG of the given size (zlib + CRC from the standard library)."""
    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_forced_tool_call_streams_like_openai(oai):
    stream = oai.chat.completions.create(
        model=TOOLS_MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    starts, fragments, finish = [], [], None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                assert call.index == 0
                if call.id is not None:
                    starts.append(call)
                    fragments.append(call.function.arguments or "")
                else:
                    fragments.append(call.function.arguments)
            if choice.finish_reason:
                finish = choice.finish_reason
    # One call: index, id, type and name first, then argument fragments.
    assert len(starts) == 1
    assert starts[0].type == "function" and starts[0].function.name == "get_weather"
    assert len([f for f in fragments if f]) >= 2, fragments
    arguments = json.loads("".join(fragments))
    assert isinstance(arguments["city"], str)
    assert finish == "tool_calls"


def test_tool_round_trip_with_role_tool(oai):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = oai.chat.completions.create(
        model=TOOLS_MODEL, messages=messages, tools=[WEATHER], tool_choice="required"
    )
    assert first.choices[0].finish_reason == "tool_calls"
    message = first.choices[0].message
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    json.loads(call.function.arguments)
    # The assistant message goes back as the SDK returned it, then the tool's result.
    messages.append(message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"})
    second = oai.chat.completions.create(model=TOOLS_MODEL, messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert "18 C and sunny" in second.choices[0].message.content


def test_image_data_url(oai):
    data = base64.b64encode(png(3, 2)).decode()
    r = oai.chat.completions.create(
        model=TOOLS_MODEL,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "Describe the image."},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
        ]}],
    )
    text = r.choices[0].message.content.lower()
    assert "png" in text and "3" in text and "2" in text, text


class CityFacts(pydantic.BaseModel):
    city: str
    population: int


def test_json_schema_answer_parses_and_validates(oai):
    messages = [{"role": "user", "content": "Facts about Paris."}]
    # The SDK's structured-output helper: strict json_schema from the pydantic model, parsed
    # and validated by the SDK.
    parsed = oai.chat.completions.parse(model=TOOLS_MODEL, messages=messages, response_format=CityFacts)
    choice = parsed.choices[0]
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert isinstance(choice.message.parsed, CityFacts)

    # Streamed: the answer arrives as content fragments.
    stream = oai.chat.completions.create(
        model=TOOLS_MODEL,
        messages=messages,
        stream=True,
        response_format={"type": "json_schema", "json_schema": {
            "name": "city_facts", "schema": CityFacts.model_json_schema()}},
    )
    pieces, finish = [], None
    for chunk in stream:
        for c in chunk.choices:
            pieces.append(c.delta.content or "")
            assert not c.delta.tool_calls
            finish = c.finish_reason or finish
    CityFacts.model_validate_json("".join(pieces))
    assert finish == "stop"

    # json_object: any JSON object.
    r = oai.chat.completions.create(model=TOOLS_MODEL, messages=messages, response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_reasoning_streams_as_reasoning_content(oai):
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    stream = oai.chat.completions.create(
        model=REASONING_MODEL, messages=messages, reasoning_effort="low", stream=True,
        stream_options={"include_usage": True},
    )
    order, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        for c in chunk.choices:
            if (c.delta.model_extra or {}).get("reasoning_content"):
                order.append("reasoning")
            if c.delta.content:
                order.append("text")
    assert "reasoning" in order and "text" in order
    assert order.index("reasoning") < order.index("text")
    assert usage.completion_tokens > 0

    r = oai.chat.completions.create(model=REASONING_MODEL, messages=messages, reasoning_effort="low")
    assert r.choices[0].message.model_extra.get("reasoning_content")
    assert r.choices[0].message.content
