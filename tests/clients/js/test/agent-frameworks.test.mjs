// The Vercel AI SDK's Amazon Bedrock provider against the local endpoint. It does not use the AWS
// SDK: it signs with its own SigV4 code and parses the event stream itself, so it checks the wire
// from a second, independent implementation.
// - a whole tool loop (generateText and streamText with a tool the SDK runs itself): the final
//   answer quotes the tool's real output, and the streamed answer arrives over time;
// - generateObject with zod schemas, answered by the embedded model: constrained decoding must
//   give a 135M model's answer the schema's shape (zod writes ±(2^53 − 1) bounds for `.int()`,
//   regex patterns for emails, uuids and dates, `oneOf` for discriminated unions).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createAmazonBedrock } from "@ai-sdk/amazon-bedrock";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

import { CREDENTIALS, startLocalBedrock } from "./helpers.mjs";

const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
const QUESTION = "Use get_weather: what is the weather in Paris?";
const CHUNK_DELAY_MS = 40;

function provider(url) {
  return createAmazonBedrock({
    region: "us-east-1",
    ...CREDENTIALS,
    baseURL: url,
  });
}

function weatherTool(calls) {
  return tool({
    description: "Current weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      calls.push(city);
      return { city, temp_c: 21 };
    },
  });
}

describe("Vercel AI SDK, Bedrock provider: tool loop (scripted engine)", () => {
  let bedrock;
  before(async () => {
    bedrock = await startLocalBedrock(["--chunk-delay-ms", String(CHUNK_DELAY_MS)]);
  });
  after(async () => bedrock?.stop());

  test("generateText runs the tool and answers with its result", async () => {
    const calls = [];
    const before = (await bedrock.stats()).completed;
    const r = await generateText({
      model: provider(bedrock.url)(HAIKU),
      tools: { get_weather: weatherTool(calls) },
      stopWhen: stepCountIs(3),
      prompt: QUESTION,
    });
    assert.equal(calls.length, 1);
    assert.equal(r.steps.length, 2);
    assert.equal(r.steps[0].finishReason, "tool-calls");
    assert.equal(r.finishReason, "stop");
    assert.equal(r.text, `The tool get_weather returned: ${JSON.stringify({ city: calls[0], temp_c: 21 })}.`);
    assert.equal((await bedrock.stats()).completed - before, 2);
  });

  test("streamText streams the tool call and then the answer, over time", async () => {
    const calls = [];
    const s = streamText({
      model: provider(bedrock.url)(HAIKU),
      tools: { get_weather: weatherTool(calls) },
      stopWhen: stepCountIs(3),
      prompt: QUESTION,
    });
    const kinds = new Set();
    const deltas = [];
    for await (const part of s.fullStream) {
      if (part.type === "error") throw part.error;
      kinds.add(part.type);
      if (part.type === "text-delta") deltas.push(performance.now());
    }
    assert.equal(calls.length, 1);
    for (const k of ["tool-input-start", "tool-input-delta", "tool-call", "tool-result", "text-delta", "finish"]) {
      assert.ok(kinds.has(k), `no ${k} part: ${[...kinds]}`);
    }
    assert.equal(await s.text, `The tool get_weather returned: ${JSON.stringify({ city: calls[0], temp_c: 21 })}.`);
    // The answer's chunks are 40 ms apart at the engine; they must reach the SDK spread out,
    // not in one piece at the end.
    assert.ok(deltas.length >= 4, `${deltas.length} text deltas`);
    const span = deltas.at(-1) - deltas[0];
    console.log(`${deltas.length} text deltas over ${span.toFixed(0)} ms`);
    assert.ok(span >= (deltas.length - 1) * CHUNK_DELAY_MS * 0.5, `deltas spanned ${span.toFixed(0)} ms`);
  });
});

describe("Vercel AI SDK, Bedrock provider: generateObject (embedded model)", () => {
  let bedrock;
  before(async () => {
    bedrock = await startLocalBedrock([], { engine: "model" });
  });
  after(async () => bedrock?.stop());

  test("a zod schema's object from the embedded model", async () => {
    const schema = z.object({ city: z.string(), days: z.number().int(), by_train: z.boolean() });
    const before = (await bedrock.stats()).completed;
    const r = await generateObject({
      model: provider(bedrock.url)(HAIKU),
      schema,
      prompt: "Plan a three-day trip to Paris by train.",
      maxOutputTokens: 120,
    });
    // generateObject has already validated it with the schema; check once more, by hand.
    assert.deepEqual(Object.keys(r.object).sort(), ["by_train", "city", "days"]);
    assert.ok(Number.isInteger(r.object.days) && typeof r.object.by_train === "boolean" && r.object.city.trim());
    assert.equal((await bedrock.stats()).completed - before, 1);
    console.log(`generateObject from the embedded model: ${JSON.stringify(r.object)}`);
  });

  test("zod's formats, patterns, records and discriminated unions", async () => {
    // What zod writes for these: `pattern`s (email, uuid, date-time), `format: uri`, a `oneOf`
    // told apart by a constant, `propertyNames` for a record. Every one followed, none refused.
    const schema = z.object({
      contact: z.string().email(),
      id: z.string().uuid(),
      when: z.string().datetime(),
      site: z.string().url(),
      shape: z.discriminatedUnion("kind", [
        z.object({ kind: z.literal("circle"), r: z.number() }),
        z.object({ kind: z.literal("square"), side: z.number() }),
      ]),
      scores: z.record(z.string(), z.number()),
    });
    const r = await generateObject({
      model: provider(bedrock.url)(HAIKU),
      schema,
      prompt: "Fill in an example record for a customer.",
      maxOutputTokens: 300,
    });
    // generateObject parsed it with the schema (it throws otherwise); zod once more, by hand.
    assert.deepEqual(schema.parse(r.object), r.object);
    console.log(`zod object from the embedded model: ${JSON.stringify(r.object)}`);
  });
});
