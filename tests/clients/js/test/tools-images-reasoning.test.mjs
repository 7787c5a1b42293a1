// Tools, images, documents, reasoning and Bedrock's validation errors through the AWS SDK for
// JavaScript v3 against the local endpoint (scripted engine), with both request handlers:
// a ConverseStream tool round trip, an image and a document acknowledged intact, reasoning before
// the answer, and every row of tests/clients/validation-cases.json with its exact message.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { deflateSync } from "node:zlib";

import { ConverseCommand, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";

import { HANDLERS, makeClient, startLocalBedrock } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const CASES = JSON.parse(readFileSync(path.join(here, "..", "..", "validation-cases.json"), "utf8")).cases;

const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
const SONNET4 = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const WEATHER_SCHEMA = {
  type: "object",
  properties: {
    city: { type: "string", minLength: 2 },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    days: { type: "integer", minimum: 1, maximum: 7 },
    coords: {
      type: "object",
      properties: { lat: { type: "number", minimum: -90, maximum: 90 }, lon: { type: "number" } },
      required: ["lat", "lon"],
    },
  },
  required: ["city", "unit", "coords"],
  additionalProperties: false,
};
const TOOLS = [
  { toolSpec: { name: "get_weather", description: "Weather for a city", inputSchema: { json: WEATHER_SCHEMA } } },
  { toolSpec: { name: "get_time", inputSchema: { json: { type: "object", properties: { zone: { type: "string" } } } } } },
];

// --- A real PNG -------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function png(width, height) {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const at = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) rows.set([(x * 4) & 255, (y * 5) & 255, 128], at + 1 + x * 3);
  }
  const chunk = (kind, data) => {
    const body = Buffer.concat([Buffer.from(kind, "ascii"), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", ihdr),
      chunk("IDAT", deflateSync(rows)),
      chunk("IEND", Buffer.alloc(0)),
    ]),
  );
}

/** `{"$bytes": ...}` markers of the shared table as bytes (the SDK base64-encodes blobs). */
function materialize(value) {
  if (Array.isArray(value)) return value.map(materialize);
  if (value && typeof value === "object") {
    const spec = value.$bytes;
    if (spec) {
      if (spec.png) return png(...spec.png);
      if (spec.fill !== undefined) return new Uint8Array(spec.fill);
      return new TextEncoder().encode(spec.utf8);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, materialize(v)]));
  }
  return value;
}

/** Checks the scripted engine's arguments against WEATHER_SCHEMA, keyword by keyword. */
function assertWeatherArguments(args) {
  assert.deepEqual(Object.keys(args).sort(), Object.keys(WEATHER_SCHEMA.properties).sort());
  assert.equal(typeof args.city, "string");
  assert.ok(args.city.length >= 2);
  assert.ok(WEATHER_SCHEMA.properties.unit.enum.includes(args.unit));
  assert.ok(Number.isInteger(args.days) && args.days >= 1 && args.days <= 7);
  assert.equal(typeof args.coords.lat, "number");
  assert.ok(args.coords.lat >= -90 && args.coords.lat <= 90);
  assert.equal(typeof args.coords.lon, "number");
}

async function readStream(client, input) {
  const response = await client.send(new ConverseStreamCommand(input));
  const out = { kinds: [], starts: {}, input: {}, text: {}, reasoning: {}, signature: {}, stop: null, usage: null };
  for await (const event of response.stream) {
    const [kind] = Object.keys(event).filter((k) => event[k] !== undefined);
    const body = event[kind];
    const index = body.contentBlockIndex;
    out.kinds.push([kind, index]);
    if (kind === "contentBlockStart") out.starts[index] = body.start.toolUse;
    else if (kind === "contentBlockDelta") {
      const d = body.delta;
      if (d.text !== undefined) out.text[index] = (out.text[index] ?? "") + d.text;
      else if (d.toolUse) (out.input[index] ??= []).push(d.toolUse.input);
      else if (d.reasoningContent?.signature !== undefined) out.signature[index] = d.reasoningContent.signature;
      else out.reasoning[index] = (out.reasoning[index] ?? "") + d.reasoningContent.text;
    } else if (kind === "messageStop") out.stop = body.stopReason;
    else if (kind === "metadata") out.usage = body.usage;
  }
  return out;
}

let server;

before(async () => {
  server = await startLocalBedrock();
});

after(async () => {
  await server?.stop();
});

for (const handlerName of Object.keys(HANDLERS)) {
  describe(handlerName, () => {
    let client;

    before(() => {
      client = makeClient(server.url, handlerName);
    });

    after(() => client?.destroy());

    test("ConverseStream tool round trip", async () => {
      const question = { role: "user", content: [{ text: "What is the weather in Paris? Use get_weather." }] };
      let s = await readStream(client, {
        modelId: HAIKU,
        messages: [question],
        toolConfig: { tools: TOOLS, toolChoice: { any: {} } },
      });
      assert.equal(s.stop, "tool_use");
      assert.deepEqual(s.kinds[1], ["contentBlockStart", 0]);
      const start = s.starts[0];
      assert.equal(start.name, "get_weather");
      assert.match(start.toolUseId, /^tooluse_[A-Za-z0-9]{22}$/);
      const fragments = s.input[0];
      assert.equal(fragments[0], "");
      assert.ok(fragments.length >= 4, JSON.stringify(fragments));
      const args = JSON.parse(fragments.join(""));
      assertWeatherArguments(args);
      assert.deepEqual(s.text, {});

      const history = [
        question,
        { role: "assistant", content: [{ toolUse: { toolUseId: start.toolUseId, name: "get_weather", input: args } }] },
        {
          role: "user",
          content: [{ toolResult: { toolUseId: start.toolUseId, content: [{ json: { temp: 21 } }, { text: "sunny" }] } }],
        },
      ];
      s = await readStream(client, { modelId: HAIKU, messages: history, toolConfig: { tools: TOOLS } });
      assert.equal(s.stop, "end_turn");
      assert.equal(s.text[0], 'The tool get_weather returned: {"temp":21} sunny.');

      s = await readStream(client, { modelId: HAIKU, messages: [question], toolConfig: { tools: TOOLS } });
      assert.equal(s.text[0], "Calling get_weather.");
      assert.deepEqual(Object.keys(s.starts), ["1"]);

      const r = await client.send(
        new ConverseCommand({
          modelId: HAIKU,
          messages: [question],
          toolConfig: { tools: TOOLS, toolChoice: { tool: { name: "get_weather" } } },
        }),
      );
      assert.equal(r.stopReason, "tool_use");
      assert.deepEqual(r.output.message.content[0].toolUse.input, args);
    });

    test("an image and a document arrive intact", async () => {
      const notes = "Quarterly numbers went up by ten percent.";
      const question = "What is in these?";
      const s = await readStream(client, {
        modelId: HAIKU,
        messages: [
          {
            role: "user",
            content: [
              { text: question },
              { image: { format: "png", source: { bytes: png(64, 48) } } },
              { document: { format: "txt", name: "notes", source: { bytes: new TextEncoder().encode(notes) } } },
            ],
          },
        ],
      });
      assert.ok(
        s.text[0].startsWith(`Scripted answer to: ${question} [image 1: png 64x48] [document notes: ${notes.length} bytes]`),
        s.text[0],
      );
      assert.equal(
        s.usage.inputTokens,
        question.split(/\s+/).length + Math.floor((64 * 48) / 750) + notes.split(/\s+/).length,
      );
    });

    test("reasoning streams before the answer, with a signature", async () => {
      const s = await readStream(client, {
        modelId: SONNET4,
        messages: [{ role: "user", content: [{ text: "Why is the sky blue?" }] }],
        inferenceConfig: { maxTokens: 4096 },
        additionalModelRequestFields: { thinking: { type: "enabled", budget_tokens: 2048 } },
      });
      assert.ok(s.reasoning[0].startsWith("Thinking about: Why is the sky blue?"), s.reasoning[0]);
      assert.ok(s.signature[0]);
      assert.ok(s.text[1].startsWith("Scripted answer to: Why is the sky blue?"));
      assert.deepEqual(
        s.kinds.filter(([k]) => k === "contentBlockStop").map(([, i]) => i),
        [0, 1],
      );
    });

    for (const c of CASES) {
      test(`ValidationException: ${c.name}`, async () => {
        const Command = c.operation === "converse" ? ConverseCommand : ConverseStreamCommand;
        await assert.rejects(client.send(new Command({ modelId: c.modelId, ...materialize(c.request) })), (err) => {
          assert.equal(err.name, "ValidationException");
          assert.equal(err.$metadata.httpStatusCode, 400);
          assert.equal(err.message, c.message);
          return true;
        });
      });
    }
  });
}
