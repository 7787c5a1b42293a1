// The local Bedrock endpoint through the AWS SDK for JavaScript v3, unchanged except for
// `endpoint`: every scenario runs with the SDK's default request handler for bedrock-runtime
// (NodeHttp2Handler, HTTP/2 with prior knowledge, i.e. h2c against http://) and with an explicit
// NodeHttpHandler (HTTP/1.1).

import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";

import {
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ModelStreamErrorException,
  ThrottlingException,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttp2Handler, NodeHttpHandler } from "@smithy/node-http-handler";

import { HANDLERS, makeClient, scriptedTokens, startLocalBedrock } from "./helpers.mjs";

const QUESTION = "Explain serverless to a 5th grader.";
const EXPECTED_TOKENS = scriptedTokens(QUESTION, { maxTokens: 300 });
const EXPECTED = EXPECTED_TOKENS.join("");
const INPUT_TOKENS = QUESTION.split(/\s+/).length;
const decoder = new TextDecoder();

// model id, body, chunk -> text (ids and bodies as in crates/bedrock-local/tests/sdk.rs)
const FAMILIES = {
  "anthropic-text": [
    "anthropic.claude-v2",
    { prompt: `\n\nHuman: ${QUESTION}\n\nAssistant:`, max_tokens_to_sample: 300 },
    (c) => c.completion || null,
  ],
  "anthropic-messages": [
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 300,
      messages: [{ role: "user", content: [{ type: "text", text: QUESTION }] }],
    },
    (c) => (c.type === "content_block_delta" && c.delta.type === "text_delta" ? c.delta.text : null),
  ],
  titan: [
    "amazon.titan-text-express-v1",
    { inputText: QUESTION, textGenerationConfig: { maxTokenCount: 300 } },
    (c) => c.outputText || null,
  ],
  llama: [
    "meta.llama3-8b-instruct-v1:0",
    {
      prompt: `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
      max_gen_len: 300,
    },
    (c) => c.generation || null,
  ],
  nova: [
    "eu.amazon.nova-lite-v1:0",
    {
      schemaVersion: "messages-v1",
      messages: [{ role: "user", content: [{ text: QUESTION }] }],
      inferenceConfig: { max_new_tokens: 300 },
    },
    (c) => c.contentBlockDelta?.delta?.text ?? null,
  ],
};

async function streamChunks(client, modelId, body) {
  const response = await client.send(
    new InvokeModelWithResponseStreamCommand({
      modelId,
      contentType: "application/json",
      accept: "application/json",
      body: JSON.stringify(body),
    }),
  );
  const chunks = [];
  const times = [];
  for await (const event of response.body) {
    assert.deepEqual(Object.keys(event).filter((k) => event[k] !== undefined), ["chunk"]);
    times.push(performance.now());
    chunks.push(JSON.parse(decoder.decode(event.chunk.bytes)));
  }
  return { response, chunks, times };
}

/** Drains a stream, returning how many events arrived and what it threw. */
async function drainUntilError(iterable) {
  const events = [];
  try {
    for await (const event of iterable) events.push(event);
  } catch (err) {
    return { events, err };
  }
  return { events, err: null };
}

const IN_STREAM = {
  internalServerException: "InternalServerException",
  modelStreamErrorException: "ModelStreamErrorException",
  throttlingException: "ThrottlingException",
  modelTimeoutException: "ModelTimeoutException",
  serviceUnavailableException: "ServiceUnavailableException",
  validationException: "ValidationException",
};

const PRE_STREAM = {
  throttle: ["ThrottlingException", 429],
  validation: ["ValidationException", 400],
  internal: ["InternalServerException", 500],
  "model-timeout": ["ModelTimeoutException", 408],
  "service-unavailable": ["ServiceUnavailableException", 503],
  "model-not-ready": ["ModelNotReadyException", 429],
  "access-denied": ["AccessDeniedException", 403],
  "model-error": ["ModelErrorException", 424],
};

let server;
let paced;

before(async () => {
  [server, paced] = await Promise.all([startLocalBedrock(), startLocalBedrock(["--chunk-delay-ms", "40"])]);
});

after(async () => {
  await Promise.all([server?.stop(), paced?.stop()]);
});

for (const handlerName of Object.keys(HANDLERS)) {
  describe(handlerName, () => {
    let client;

    before(async () => {
      await server.clearFaults();
      client = makeClient(server.url, handlerName);
    });

    after(() => client?.destroy());

    test("the client uses the expected request handler and protocol", async () => {
      const handler = client.config.requestHandler;
      const isDefault = handlerName.startsWith("default");
      assert.ok(
        handler instanceof (isDefault ? NodeHttp2Handler : NodeHttpHandler),
        `handler is ${handler?.constructor?.name}`,
      );
      // Watch the HTTP/2 sessions the handler opens (it calls http2.connect on the module).
      const sessions = [];
      const original = http2.connect;
      http2.connect = function (...args) {
        const session = original.apply(this, args);
        sessions.push({ authority: String(args[0]), session });
        return session;
      };
      try {
        const [modelId, body, chunkText] = FAMILIES["anthropic-text"];
        const { chunks } = await streamChunks(client, modelId, body);
        assert.equal(chunks.map(chunkText).filter(Boolean).join(""), EXPECTED);
      } finally {
        http2.connect = original;
      }
      if (isDefault) {
        assert.equal(sessions.length, 1, "one HTTP/2 session");
        assert.ok(sessions[0].authority.startsWith(server.url), sessions[0].authority);
        // Cleartext HTTP/2 with prior knowledge: h2c, no TLS, no upgrade.
        assert.equal(sessions[0].session.alpnProtocol, "h2c");
        assert.equal(sessions[0].session.encrypted, false);
      } else {
        assert.equal(sessions.length, 0, "NodeHttpHandler must not open HTTP/2 sessions");
      }
    });

    for (const [family, [modelId, body, chunkText]] of Object.entries(FAMILIES)) {
      test(`InvokeModelWithResponseStream streams ${family} (${modelId})`, async () => {
        const { response, chunks } = await streamChunks(client, modelId, body);
        assert.equal(response.$metadata.httpStatusCode, 200);
        assert.equal(response.contentType, "application/json");
        assert.ok(response.$metadata.requestId);
        const text = chunks.map(chunkText).filter(Boolean).join("");
        assert.equal(text, EXPECTED);
        assert.ok(chunks.length >= EXPECTED_TOKENS.length, `${chunks.length} chunks`);
        const metrics = chunks.at(-1)["amazon-bedrock-invocationMetrics"];
        assert.ok(metrics, JSON.stringify(chunks.at(-1)));
        assert.equal(metrics.inputTokenCount, INPUT_TOKENS);
        assert.equal(metrics.outputTokenCount, EXPECTED_TOKENS.length);
      });
    }

    test("InvokeModel (non-streaming) returns the same text", async () => {
      const [modelId, body] = FAMILIES["anthropic-messages"];
      const out = await client.send(
        new InvokeModelCommand({ modelId, contentType: "application/json", body: JSON.stringify(body) }),
      );
      const parsed = JSON.parse(decoder.decode(out.body));
      assert.equal(parsed.content.map((p) => p.text).join(""), EXPECTED);
    });

    test("model ids are URL-encoded: ARNs and inference profiles", async () => {
      const [, body, chunkText] = FAMILIES["anthropic-messages"];
      for (const modelId of [
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
      ]) {
        const { chunks } = await streamChunks(client, modelId, body);
        assert.equal(chunks.map(chunkText).filter(Boolean).join(""), EXPECTED, modelId);
      }
    });

    test("ConverseStream events", async () => {
      const out = await client.send(
        new ConverseStreamCommand({
          modelId: "us.amazon.nova-pro-v1:0",
          messages: [{ role: "user", content: [{ text: QUESTION }] }],
          inferenceConfig: { maxTokens: 300 },
        }),
      );
      const kinds = [];
      let text = "";
      let usage;
      let stopReason;
      for await (const event of out.stream) {
        const [kind] = Object.keys(event).filter((k) => event[k] !== undefined);
        kinds.push(kind);
        if (kind === "contentBlockDelta") text += event.contentBlockDelta.delta.text;
        if (kind === "messageStop") stopReason = event.messageStop.stopReason;
        if (kind === "metadata") {
          usage = event.metadata.usage;
          assert.equal(typeof event.metadata.metrics.latencyMs, "number");
        }
      }
      assert.equal(kinds[0], "messageStart");
      assert.deepEqual(kinds.slice(-3), ["contentBlockStop", "messageStop", "metadata"]);
      assert.equal(text, EXPECTED);
      assert.equal(stopReason, "end_turn");
      assert.equal(usage.inputTokens, INPUT_TOKENS);
      assert.equal(usage.outputTokens, EXPECTED_TOKENS.length);
    });

    test("Converse (non-streaming)", async () => {
      const out = await client.send(
        new ConverseCommand({
          modelId: "anthropic.claude-3-haiku-20240307-v1:0",
          messages: [{ role: "user", content: [{ text: QUESTION }] }],
          inferenceConfig: { maxTokens: 4 },
        }),
      );
      assert.equal(out.stopReason, "max_tokens");
      assert.equal(out.usage.outputTokens, 4);
      assert.equal(out.output.message.content[0].text, EXPECTED_TOKENS.slice(0, 4).join(""));
    });

    for (const [exception, name] of Object.entries(IN_STREAM)) {
      test(`in-stream ${exception} is thrown as ${name}`, async () => {
        await server.inject("midstream", { exception, after: 3 });
        const [modelId, body, chunkText] = FAMILIES.llama;
        const response = await client.send(
          new InvokeModelWithResponseStreamCommand({ modelId, body: JSON.stringify(body) }),
        );
        const { events, err } = await drainUntilError(response.body);
        assert.ok(err, `${exception}: the stream ended without an error`);
        assert.equal(err.name, name, `${exception} → ${err.name}: ${err.message}`);
        assert.equal(err.$fault === "client" || err.$fault === "server", true);
        assert.ok(err.message);
        assert.equal(events.length, 3);
        const text = events.map((e) => chunkText(JSON.parse(decoder.decode(e.chunk.bytes)))).join("");
        assert.equal(text, EXPECTED_TOKENS.slice(0, 3).join(""));
        if (name === "ThrottlingException") assert.ok(err instanceof ThrottlingException);
        if (name === "ModelStreamErrorException") assert.ok(err instanceof ModelStreamErrorException);
      });
    }

    test("in-stream throttlingException on ConverseStream is a ThrottlingException", async () => {
      await server.inject("midstream", { exception: "throttlingException", after: 2 });
      const out = await client.send(
        new ConverseStreamCommand({
          modelId: "amazon.nova-micro-v1:0",
          messages: [{ role: "user", content: [{ text: "hi" }] }],
        }),
      );
      const { events, err } = await drainUntilError(out.stream);
      assert.ok(err instanceof ThrottlingException, `${err?.name}: ${err?.message}`);
      assert.equal(events.length, 2);
      assert.ok(events[0].messageStart);
    });

    for (const [kind, [name, status]] of Object.entries(PRE_STREAM)) {
      test(`pre-stream ${kind} fault is ${name} with HTTP ${status}`, async () => {
        await server.inject(kind);
        const [modelId, body] = FAMILIES["anthropic-text"];
        await assert.rejects(
          client.send(new InvokeModelWithResponseStreamCommand({ modelId, body: JSON.stringify(body) })),
          (err) => {
            assert.equal(err.name, name, `${err.name}: ${err.message}`);
            assert.equal(err.$metadata.httpStatusCode, status);
            assert.ok(err.message);
            return true;
          },
        );
      });
    }

    test("pre-stream throttle on ConverseStream is ThrottlingException 429, and the next call is healthy", async () => {
      await server.inject("throttle");
      const input = { modelId: "amazon.nova-micro-v1:0", messages: [{ role: "user", content: [{ text: "hi" }] }] };
      await assert.rejects(client.send(new ConverseStreamCommand(input)), (err) => {
        assert.ok(err instanceof ThrottlingException, err.name);
        assert.equal(err.$metadata.httpStatusCode, 429);
        return true;
      });
      const out = await client.send(new ConverseStreamCommand(input));
      const { err } = await drainUntilError(out.stream);
      assert.equal(err, null);
    });

    test("a corrupted frame (bad CRC) is an error", async () => {
      await server.inject("bad-crc", { after: 2 });
      const [modelId, body] = FAMILIES.titan;
      const response = await client.send(
        new InvokeModelWithResponseStreamCommand({ modelId, body: JSON.stringify(body) }),
      );
      const { events, err } = await drainUntilError(response.body);
      assert.ok(err, "the stream ended without an error");
      assert.match(String(err.message), /checksum|crc/i);
      assert.equal(events.length, 2);
    });

    test("a stream that ends in the middle of a frame is an error", async () => {
      await server.inject("truncate", { after: 2 });
      const [modelId, body] = FAMILIES.titan;
      const response = await client.send(
        new InvokeModelWithResponseStreamCommand({ modelId, body: JSON.stringify(body) }),
      );
      const { events, err } = await drainUntilError(response.body);
      assert.ok(err, "the stream ended without an error");
      // The connection breaks mid-frame: HTTP/1.1 reports "aborted", h2 a stream reset.
      assert.match(String(err.message), /truncated|aborted|NGHTTP2_INTERNAL_ERROR|socket hang up/i);
      assert.equal(events.length, 2);
    });

    test("chunks arrive spread in time (40 ms apart)", async () => {
      const pacedClient = makeClient(paced.url, handlerName);
      try {
        const body = { prompt: "\n\nHuman: hi\n\nAssistant:", max_tokens_to_sample: 10 };
        const { chunks, times } = await streamChunks(pacedClient, "anthropic.claude-v2", body);
        assert.equal(chunks.length, 11, "10 text chunks and the final one");
        assert.equal(chunks.map((c) => c.completion).join(""), scriptedTokens("hi", { maxTokens: 10 }).join(""));
        const gaps = times.slice(1).map((t, i) => t - times[i]);
        const pacedGaps = gaps.filter((g) => g >= 25);
        assert.ok(pacedGaps.length >= 8, `gaps (ms): ${gaps.map((g) => g.toFixed(1)).join(", ")}`);
        assert.ok(times.at(-2) - times[0] >= 300, `spread ${times.at(-2) - times[0]} ms`);
      } finally {
        pacedClient.destroy();
      }
    });
  });
}
