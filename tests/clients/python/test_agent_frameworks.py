"""Agent frameworks on top of the SDKs, unmodified, running a whole tool loop:

- Strands Agents (AWS's agent SDK; boto3 ConverseStream) against the local Bedrock endpoint;
- LangChain's ChatBedrockConverse (langchain-aws; boto3 Converse/ConverseStream) against it too;
- LangChain's ChatOpenAI (the openai SDK) against `serve`'s /v1/chat/completions;
- the OpenAI Agents SDK (Chat Completions model, streamed and not) against `serve` too.

Each one gets a question, the scripted engine asks for the tool the question names, the framework
runs the Python tool itself and sends its result back, and the final answer quotes that result —
so the tool's real output must have crossed the wire both ways.

Then structured output, the frameworks' own helpers (they force a tool call with the schema of a
pydantic class), answered by the embedded model: constrained decoding must make a 135M model's
answer parse into the class, through both frameworks.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import typing
import uuid

import pydantic
import pytest
from agents import Agent as OpenAIAgent
from agents import OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from langchain_aws import ChatBedrockConverse
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool as lc_tool
from langchain_openai import ChatOpenAI
from strands import Agent
from strands import tool as strands_tool
from openai import AsyncOpenAI
from strands.models import BedrockModel

from conftest import LocalBedrock, session
from test_openai import stack  # noqa: F401  (pytest fixture: serve in front of local-bedrock)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
QUESTION = "Use get_weather: what is the weather in Paris?"


def test_strands_agent_runs_a_tool_loop(bedrock):
    calls: list[str] = []

    @strands_tool
    def get_weather(city: str) -> dict:
        """Current weather in a city.

        Args:
            city: the city's name
        """
        calls.append(city)
        return {"status": "success", "content": [{"json": {"city": city, "temp_c": 21}}]}

    model = BedrockModel(
        model_id=HAIKU,
        endpoint_url=bedrock.url,
        boto_session=session(),
        max_tokens=200,
    )
    agent = Agent(model=model, tools=[get_weather], callback_handler=None)
    before = bedrock.stats()["completed"]

    result = agent(QUESTION)

    # The model asked for the tool, Strands ran it, and the answer quotes what it returned.
    assert len(calls) == 1 and isinstance(calls[0], str) and len(calls[0]) >= 1
    answer = str(result)
    assert "get_weather returned" in answer, answer
    assert f'"temp_c":21' in answer.replace(" ", ""), answer
    assert result.stop_reason == "end_turn"
    # Two ConverseStream calls: the question, then the tool result.
    assert bedrock.stats()["completed"] - before == 2
    # The history Strands keeps has the call and its result with the same id.
    uses = [c["toolUse"] for m in agent.messages for c in m["content"] if "toolUse" in c]
    results = [c["toolResult"] for m in agent.messages for c in m["content"] if "toolResult" in c]
    assert len(uses) == 1 and len(results) == 1
    assert uses[0]["toolUseId"] == results[0]["toolUseId"]
    assert uses[0]["input"] == {"city": calls[0]}


@lc_tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return json.dumps({"city": city, "temp_c": 21})


def run_langchain_loop(llm, stream: bool) -> tuple[str, dict]:
    """One question, the tool call the model asks for run by LangChain's tool, the final answer."""
    bound = llm.bind_tools([get_weather])
    messages = [HumanMessage(QUESTION)]
    if stream:
        first = None
        for chunk in bound.stream(messages):
            first = chunk if first is None else first + chunk
    else:
        first = bound.invoke(messages)
    assert first is not None and len(first.tool_calls) == 1, first
    call = first.tool_calls[0]
    assert call["name"] == "get_weather" and isinstance(call["args"].get("city"), str)
    messages += [first, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = bound.invoke(messages)
    assert not final.tool_calls
    return final.text if isinstance(final.text, str) else final.text(), call


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
def test_langchain_bedrock_converse_runs_a_tool_loop(bedrock, stream):
    llm = ChatBedrockConverse(
        model=HAIKU,
        client=bedrock.client(),
        max_tokens=200,
    )
    text, call = run_langchain_loop(llm, stream)
    assert "get_weather returned" in text, text
    assert f'"city": "{call["args"]["city"]}"' in text and '"temp_c": 21' in text, text


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "chat-stream"])
def test_langchain_chat_openai_through_serve_runs_a_tool_loop(stack, stream):  # noqa: F811
    llm = ChatOpenAI(
        model=HAIKU,
        base_url=f"{stack[1].url}/v1",
        api_key="unused",
        max_tokens=200,
        max_retries=0,
        timeout=30,
    )
    text, call = run_langchain_loop(llm, stream)
    assert "get_weather returned" in text, text
    assert f'"city": "{call["args"]["city"]}"' in text and '"temp_c": 21' in text, text


def test_openai_agents_sdk_through_serve_runs_a_tool_loop(stack):  # noqa: F811
    set_tracing_disabled(True)  # its default exports traces to OpenAI's servers
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return json.dumps({"city": city, "temp_c": 21})

    async def run() -> tuple[str, str, int]:
        client = AsyncOpenAI(base_url=f"{stack[1].url}/v1", api_key="unused", max_retries=0, timeout=30)
        model = OpenAIChatCompletionsModel(model=HAIKU, openai_client=client)
        agent = OpenAIAgent(name="weather", instructions="Answer with the tools.", model=model, tools=[get_weather])
        plain = await Runner.run(agent, QUESTION)
        streamed = Runner.run_streamed(agent, QUESTION)
        events = 0
        async for _ in streamed.stream_events():
            events += 1
        await client.close()
        return plain.final_output, streamed.final_output, events

    plain, streamed, events = asyncio.run(run())
    assert len(calls) == 2 and calls[0] == calls[1]
    for answer in (plain, streamed):
        assert "get_weather returned" in answer and '"temp_c": 21' in answer, answer
        assert json.dumps(calls[0]) in answer, answer
    assert events > 3



class Trip(pydantic.BaseModel):
    """A planned trip."""

    city: str
    days: int
    by_train: bool


TRIP = "Plan a three-day trip to Paris by train."


@pytest.fixture(scope="module")
def model_bedrock():
    """local-bedrock with the embedded model (scripts/test fetched it)."""
    server = LocalBedrock(engine="model")
    yield server
    server.stop()


def test_strands_structured_output_from_the_embedded_model(model_bedrock):
    model = BedrockModel(
        model_id=HAIKU,
        endpoint_url=model_bedrock.url,
        boto_session=session(),
        max_tokens=120,
    )
    agent = Agent(model=model, callback_handler=None)
    before = model_bedrock.stats()["completed"]
    # `Agent.structured_output` (deprecated in 1.x, still shipped) forces the tool at once. The
    # newer `agent(prompt, structured_output_model=...)` first lets the model answer with
    # toolChoice auto, and a 135M model then writes prose up to max_tokens instead of stopping.
    with pytest.warns(DeprecationWarning):
        trip = agent.structured_output(Trip, TRIP)
    # Strands validated the tool input into the class; had the model written anything else, it
    # would have raised. One call, answered by the model.
    assert isinstance(trip, Trip) and trip.city.strip() and trip.days >= 0, trip
    assert model_bedrock.stats()["completed"] - before == 1
    print("strands structured output from the embedded model:", trip)


def test_langchain_structured_output_from_the_embedded_model(model_bedrock):
    llm = ChatBedrockConverse(model=HAIKU, client=model_bedrock.client(read_timeout=60), max_tokens=120)
    trip = llm.with_structured_output(Trip).invoke(TRIP)
    assert isinstance(trip, Trip) and trip.city.strip() and trip.days >= 0, trip
    print("langchain structured output from the embedded model:", trip)


class Cat(pydantic.BaseModel):
    pet_type: typing.Literal["cat"]
    lives: int = pydantic.Field(ge=0, le=9)


class Dog(pydantic.BaseModel):
    pet_type: typing.Literal["dog"]
    barks: bool


class Booking(pydantic.BaseModel):
    """A pet-hotel booking: what pydantic writes for dates, uuids, patterns and tagged unions."""

    reference: uuid.UUID
    check_in: datetime.date
    booked_at: datetime.datetime
    code: str = pydantic.Field(pattern=r"^[A-Z]{3}-\d{2}$")
    pet: Cat | Dog = pydantic.Field(discriminator="pet_type")
    notes: dict[str, str]


def test_langchain_structured_output_with_pydantics_formats_and_unions(model_bedrock):
    llm = ChatBedrockConverse(model=HAIKU, client=model_bedrock.client(read_timeout=90), max_tokens=250)
    booking = llm.with_structured_output(Booking).invoke("Book a room for my dog next Friday.")
    # LangChain validated the call's input with pydantic: a real uuid, date, datetime, a code
    # matching the pattern, one of the two pets.
    assert isinstance(booking, Booking), booking
    assert isinstance(booking.pet, (Cat, Dog)) and isinstance(booking.check_in, datetime.date)
    print("pydantic booking from the embedded model:", booking.model_dump_json())
