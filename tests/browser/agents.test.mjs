// End-to-end test of the page's agent and multimodal controls (image attach, "reason first",
// tools JSON + "must call a tool") at GET / of `bedrock-stream serve`, in Debian's headless
// Chromium through playwright-core (executablePath is the distribution's /usr/bin/chromium).
//
// Same two processes as page.test.mjs, both on 127.0.0.1 port 0:
//   local-bedrock --engine scripted --chunk-delay-ms 40
//   serve --bedrock http://LOCAL
// What the scripted engine answers, and so what the page must show
// (crates/bedrock-local/src/engines/scripted.rs, docs/local-bedrock.md):
// - an image in the last user message is acknowledged right after the echo of the first six
//   words, as "[image 1: png WxH]" with the pixel size read from the bytes, and costs
//   floor(W x H / 750) (at least 1) input tokens;
// - with toolChoice `any` it calls the tool the prompt names (else the first) with an input
//   made from the tool's JSON schema (engines/schema_value.rs: every `required` key, enums take
//   their first value, integers within minimum/maximum), streamed in ~4 fragments one chunk
//   delay apart, no text block, stop reason tool_use;
// - with `thinking` on a reasoning model (Claude Sonnet 4: `CLAUDE_THINKING`, reasoning Budget
//   in crates/bedrock-families/src/catalog.rs) it streams "Thinking about: <first six words> Let me
//   answer." word by word as block 0, a signature, then the answer as block 1;
// - `thinking` on Claude 3 Haiku (no reasoning in the catalog) and image bytes that are not an
//   image are ValidationExceptions, with Bedrock's messages ("thinking: Extra inputs are not
//   permitted", "...image.source.bytes: Could not process image").
// The page (crates/bedrock-stream-handler/assets/index.html) puts one element per content block index:
// `.block.text`, `.block.reasoning` (label "Reasoning") and `.block.tool` (label
// "Tool call: NAME (ID)", the input JSON pretty-printed at block_stop).
//
// The helpers (startServer, waitFor, ...) are in support.mjs, shared with page.test.mjs. Leaves screenshots agents-*.png
// in tests/browser/screenshots/. The serve binary is $BEDROCK_STREAM_BIN, default
// target/debug/bedrock-stream.

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";
import {
  ACTION_TIMEOUT_MS, STARTUP_TIMEOUT_MS, bin, chromiumPath, deadline, screenshots, startServer, stopServer, waitFor,
} from "./support.mjs";

const CHUNK_DELAY_MS = 40;

/** Reasoning-capable (Budget) in the catalog, vision, tool choice any: the page's first model. */
const REASONING_MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0";
/** Vision and tools but no reasoning in the catalog ("Claude 3: everything but reasoning"). */
const NO_REASONING_MODEL = "anthropic.claude-3-haiku-20240307-v1:0";

/**
 * A valid RGB PNG of width x height (signature, IHDR, one zlib IDAT with filter byte 0 per row,
 * IEND; CRC-32 over type + data, as the PNG spec, section 5.3, defines it). Pixels are a
 * gradient, so the image is not a trivial constant.
 */
function makePng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour (RGB)
  // compression 0, filter 0, interlace 0: already zero
  const raw = Buffer.alloc((1 + 3 * width) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (1 + 3 * width);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      raw[row + 1 + 3 * x] = (x * 255) / Math.max(1, width - 1);
      raw[row + 2 + 3 * x] = (y * 255) / Math.max(1, height - 1);
      raw[row + 3 + 3 * x] = 0x80;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

describe("the page's image, reasoning and tool controls", { timeout: 120_000 }, () => {
  let bedrock, serve, browser, page;
  const requests = [];
  /** Bodies of the POSTs to /converse, parsed, in order. */
  const converseBodies = [];
  const pageErrors = [];
  const consoleErrors = [];

  /** Every content block on the page, in order, plus the status lines. */
  const snapshot = () =>
    page.evaluate(() => ({
      blocks: [...document.querySelectorAll("#answer > .block")].map((b) => ({
        kind: ["text", "reasoning", "tool"].find((k) => b.classList.contains(k)) || b.className,
        index: b.dataset.index,
        label: b.querySelector(".label")?.textContent ?? null,
        body: b.querySelector(".body")?.textContent ?? null,
      })),
      answer: document.getElementById("answer").textContent,
      streaming: document.getElementById("answer").classList.contains("streaming"),
      stats: document.getElementById("stats").textContent,
      error: document.getElementById("error").textContent,
      sendDisabled: document.getElementById("send").disabled,
    }));

  /**
   * Records, in the page, every change of the answer area as it happens (one MutationObserver
   * callback per network chunk, since each arrives in its own task): the time and each block's
   * kind and length. Read back with takeLog().
   */
  const startLog = () =>
    page.evaluate(() => {
      window.__log = [];
      const answer = document.getElementById("answer");
      const record = () =>
        window.__log.push({
          t: performance.now(),
          blocks: [...answer.querySelectorAll(":scope > .block")].map((b) => ({
            kind: ["text", "reasoning", "tool"].find((k) => b.classList.contains(k)),
            len: b.querySelector(".body").textContent.length,
            body: b.querySelector(".body").textContent,
          })),
        });
      if (window.__observer) window.__observer.disconnect();
      window.__observer = new MutationObserver(record);
      window.__observer.observe(answer, { childList: true, subtree: true, characterData: true });
    });
  const takeLog = () => page.evaluate(() => window.__log);

  /** Opens the options panel (its controls are hidden until then). */
  async function openOptions() {
    await page.evaluate(() => {
      document.getElementById("options").open = true;
    });
    await page.waitForSelector("#tools", { state: "visible" });
  }

  /** Picks a model, fills the prompt and clicks Send (after any previous request finished). */
  async function send(prompt, model = REASONING_MODEL) {
    await page.waitForSelector("#send:not([disabled])");
    await page.selectOption("#model", model);
    await page.fill("#prompt", prompt);
    await page.click("#send");
  }

  /** Waits until the request has ended: Send is enabled again and stats or error are shown. */
  async function finished() {
    await page.waitForFunction(
      () =>
        !document.getElementById("send").disabled &&
        (document.getElementById("stats").textContent !== "" || document.getElementById("error").textContent !== ""),
      null,
      { timeout: ACTION_TIMEOUT_MS },
    );
    return snapshot();
  }

  const inTokens = (stats) => {
    const m = /\b(\d+) in \/ (\d+) out tokens\b/.exec(stats);
    assert.ok(m, `no token counts in the stats: ${stats}`);
    return Number(m[1]);
  };

  before(async () => {
    assert.ok(existsSync(bin), `${bin} is missing: run 'cargo build -p bedrock-stream' or set BEDROCK_STREAM_BIN`);
    assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium (tests/browser/run.sh does)`);
    mkdirSync(screenshots, { recursive: true });

    bedrock = await startServer("local-bedrock", [
      "local-bedrock", "--engine", "scripted", "--chunk-delay-ms", String(CHUNK_DELAY_MS), "--listen", "127.0.0.1:0",
    ]);
    serve = await startServer("serve", ["serve", "--listen", "127.0.0.1:0", "--bedrock", bedrock.url], {
      AWS_MAX_ATTEMPTS: "1",
    });

    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
      ],
      headless: true,
      timeout: STARTUP_TIMEOUT_MS,
    });
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    context.on("request", (req) => {
      requests.push(req.url());
      if (req.method() === "POST" && new URL(req.url()).pathname === "/converse") {
        converseBodies.push(JSON.parse(req.postData() || "null"));
      }
    });
    page = await context.newPage();
    page.setDefaultTimeout(ACTION_TIMEOUT_MS);
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
  });

  // A fresh page for each test: no image, options or blocks left over from the previous one.
  beforeEach(async () => {
    const resp = await page.goto(serve.url + "/", { waitUntil: "load", timeout: ACTION_TIMEOUT_MS });
    assert.equal(resp.status(), 200);
    await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0, null, {
      timeout: ACTION_TIMEOUT_MS,
    });
    const ids = await page.$$eval("#model option", (os) => os.map((o) => o.value));
    assert.ok(ids.includes(REASONING_MODEL) && ids.includes(NO_REASONING_MODEL), `models on the page: ${ids}`);
  });

  after(async () => {
    try {
      if (browser) await Promise.race([browser.close(), deadline(10_000)]);
    } finally {
      await stopServer(serve);
      await stopServer(bedrock);
    }
  });

  test("an attached PNG reaches the model intact: acknowledged with its pixel size and tokens", async () => {
    const [width, height] = [150, 100];
    const png = makePng(width, height);
    await openOptions();
    await page.setInputFiles("#image", { name: "gradient.png", mimeType: "image/png", buffer: png });
    // The preview decodes the same bytes: the browser agrees this is a 150x100 image.
    const preview = await waitFor("the preview to show the attached image", () =>
      page.$eval("#preview", (img) =>
        img.complete && img.naturalWidth > 0 && getComputedStyle(img).display !== "none"
          ? { w: img.naturalWidth, h: img.naturalHeight }
          : null,
      ),
    );
    assert.deepEqual(preview, { w: width, h: height });

    const prompt = "Describe this picture";
    const sent = converseBodies.length;
    await send(prompt);
    const s = await finished();
    assert.equal(s.error, "");
    assert.equal(s.blocks.length, 1, `blocks: ${JSON.stringify(s.blocks)}`);
    assert.equal(s.blocks[0].kind, "text");
    assert.ok(
      s.blocks[0].body.startsWith(`Scripted answer to: ${prompt} [image 1: png ${width}x${height}]`),
      `no acknowledgement of a ${width}x${height} PNG: ${s.blocks[0].body}`,
    );
    assert.match(s.stats, /stop: end_turn/);
    // The page sent the file's bytes unchanged, base64 as in Bedrock's JSON.
    assert.equal(converseBodies.length, sent + 1);
    const content = converseBodies.at(-1).messages[0].content;
    assert.deepEqual(content[0], { text: prompt });
    assert.equal(content[1].image.format, "png");
    assert.equal(content[1].image.source.bytes, png.toString("base64"));
    const withImage = inTokens(s.stats);
    await page.screenshot({ path: path.join(screenshots, "agents-image.png"), fullPage: true });

    // Remove: the same prompt again carries no image, and costs floor(W x H / 750) fewer tokens.
    await page.click("#clear-image");
    assert.equal(await page.$eval("#preview", (img) => getComputedStyle(img).display), "none");
    await send(prompt);
    const t = await finished();
    assert.equal(t.error, "");
    assert.ok(t.answer.startsWith(`Scripted answer to: ${prompt}`), t.answer);
    assert.doesNotMatch(t.answer, /\[image/, "the removed image was still sent");
    assert.equal(converseBodies.at(-1).messages[0].content.length, 1);
    assert.equal(withImage - inTokens(t.stats), Math.floor((width * height) / 750));
  });

  test("a forced tool call shows as a tool block with the streamed input, valid for the schema", async () => {
    const schema = {
      type: "object",
      properties: {
        city: { type: "string", description: "City name" },
        days: { type: "integer", minimum: 1, maximum: 7 },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      },
      required: ["city", "days", "unit"],
    };
    const tools = [
      { toolSpec: { name: "get_time", description: "Time in a city", inputSchema: { json: { type: "object", properties: { tz: { type: "string" } }, required: ["tz"] } } } },
      { toolSpec: { name: "get_weather", description: "Weather in a city", inputSchema: { json: schema } } },
    ];
    await openOptions();
    await page.fill("#tools", JSON.stringify(tools, null, 2));
    await page.check("#force-tool");
    await startLog();
    // "any" picks the tool the prompt names: get_weather, not the first one.
    await send("Use get_weather for Paris this week");
    const s = await finished();
    assert.equal(s.error, "");
    assert.deepEqual(converseBodies.at(-1).toolConfig, { tools, toolChoice: { any: {} } });

    assert.equal(s.blocks.length, 1, `expected only a tool block: ${JSON.stringify(s.blocks)}`);
    const [b] = s.blocks;
    assert.equal(b.kind, "tool");
    assert.equal(b.index, "0");
    assert.match(b.label, /^Tool call: get_weather \(tooluse_[A-Za-z0-9]+\)$/);
    const input = JSON.parse(b.body);
    for (const key of schema.required) assert.ok(key in input, `input lacks required "${key}": ${b.body}`);
    assert.equal(typeof input.city, "string");
    assert.ok(input.city.length > 0);
    assert.ok(Number.isInteger(input.days) && input.days >= 1 && input.days <= 7, `days: ${input.days}`);
    assert.ok(schema.properties.unit.enum.includes(input.unit), `unit: ${input.unit}`);
    assert.deepEqual(Object.keys(input).sort(), Object.keys(schema.properties).sort());
    assert.equal(b.body, JSON.stringify(input, null, 2), "the input was not pretty-printed at block_stop");
    assert.match(s.stats, /stop: tool_use/);

    // The input arrived in pieces: the tool body showed at least two partial, unparseable
    // prefixes of the compact JSON before the final pretty-printed form.
    const compact = JSON.stringify(input);
    const bodies = [...new Set((await takeLog()).map((e) => e.blocks[0]?.body).filter((x) => x))];
    const partial = bodies.filter((x) => x !== b.body && x !== compact);
    assert.ok(partial.length >= 2, `the tool input did not stream: ${JSON.stringify(bodies)}`);
    for (const p of partial) {
      assert.ok(compact.startsWith(p), `"${p}" is not a prefix of ${compact}`);
      assert.throws(() => JSON.parse(p), undefined, `partial input "${p}" already parsed`);
    }
    await page.screenshot({ path: path.join(screenshots, "agents-tool.png"), fullPage: true });
  });

  test("reasoning shows as its own block before the answer, and both grow while streaming", async () => {
    await openOptions();
    await page.check("#think");
    await startLog();
    const prompt = "Why is the sky blue";
    await send(prompt, REASONING_MODEL);

    // Seen from outside while it streams: the reasoning block, then the answer, growing.
    const seen = { reasoning: new Set(), text: new Set() };
    for (let i = 0; i < 200; i++) {
      const s = await snapshot();
      for (const b of s.blocks) if (seen[b.kind]) seen[b.kind].add(b.body.length);
      if (!s.streaming && s.stats !== "") break;
      await sleep(40);
    }
    const s = await finished();
    assert.equal(s.error, "");
    assert.deepEqual(converseBodies.at(-1).additionalModelRequestFields, {
      thinking: { type: "enabled", budget_tokens: 1024 },
    });

    assert.deepEqual(
      s.blocks.map((b) => [b.kind, b.index, b.label]),
      [["reasoning", "0", "Reasoning"], ["text", "1", null]],
    );
    const [reasoning, answer] = s.blocks;
    assert.equal(reasoning.body, `Thinking about: ${prompt} Let me answer.`);
    assert.ok(answer.body.startsWith(`Scripted answer to: ${prompt}`), answer.body);
    assert.doesNotMatch(answer.body, /Thinking about/, "reasoning leaked into the answer");
    assert.doesNotMatch(reasoning.body, /Scripted answer/, "the answer leaked into the reasoning");
    const styles = await page.$$eval("#answer > .block", (bs) => bs.map((b) => getComputedStyle(b).fontStyle));
    assert.deepEqual(styles, ["italic", "normal"], "reasoning is not set apart from the answer");
    assert.match(s.stats, /stop: end_turn/);

    assert.ok(seen.reasoning.size >= 2, `reasoning lengths polled while streaming: ${[...seen.reasoning]}`);
    assert.ok(seen.text.size >= 2, `answer lengths polled while streaming: ${[...seen.text]}`);

    // The page's own record: reasoning grew over time, the answer started only after it, then grew.
    const log = await takeLog();
    const lens = (kind) =>
      log.map((e) => ({ t: e.t, len: e.blocks.find((b) => b.kind === kind)?.len ?? 0 }));
    const r = lens("reasoning").filter((x) => x.len > 0);
    const a = lens("text").filter((x) => x.len > 0);
    assert.ok(new Set(r.map((x) => x.len)).size >= 3, `reasoning did not stream: ${JSON.stringify(r)}`);
    assert.ok(new Set(a.map((x) => x.len)).size >= 3, `answer did not stream: ${JSON.stringify(a)}`);
    assert.ok(r.at(-1).t - r[0].t >= CHUNK_DELAY_MS, "reasoning arrived all at once");
    assert.ok(a.at(-1).t - a[0].t >= CHUNK_DELAY_MS, "the answer arrived all at once");
    const fullReasoning = r.find((x) => x.len === reasoning.body.length);
    assert.ok(fullReasoning && fullReasoning.t <= a[0].t, "the answer began before the reasoning was complete");
    await page.screenshot({ path: path.join(screenshots, "agents-reasoning.png"), fullPage: true });
  });

  test("bad tools JSON, a bad file, bad image bytes and thinking on a model without it are shown plainly", async () => {
    await openOptions();

    // Tools that are not JSON, or not a list: refused on the page, nothing sent.
    const sent = converseBodies.length;
    await page.fill("#tools", '[{"toolSpec": {"name": "get_weather",');
    await send("Weather in Paris");
    let s = await finished();
    assert.match(s.error, /^Tools are not valid JSON: /);
    assert.equal(s.answer, "");
    assert.equal(s.stats, "");
    await page.fill("#tools", '{"toolSpec": {"name": "get_weather"}}');
    await send("Weather in Paris");
    s = await finished();
    assert.equal(s.error, 'Tools must be a JSON list of {"toolSpec": …}');
    await page.fill("#tools", "");
    // "Must call a tool" with no tools: said on the page, not sent without a tool config.
    await page.check("#force-tool");
    await send("Weather in Paris");
    s = await finished();
    assert.equal(s.error, '"The model must call a tool" needs at least one tool in the Tools box');
    await page.uncheck("#force-tool");
    assert.equal(converseBodies.length, sent, "the page sent a request with bad tools");

    // A .png whose bytes are no image: Bedrock's ValidationException, shown as the page got it.
    await page.setInputFiles("#image", { name: "broken.png", mimeType: "image/png", buffer: Buffer.from("this is not a png at all") });
    await waitFor("the attachment to be read", () =>
      page.$eval("#preview", (img) => getComputedStyle(img).display !== "none"),
    );
    assert.equal((await snapshot()).error, "", "attaching a new file did not clear the previous error");
    await send("Describe this picture");
    s = await finished();
    assert.equal(
      s.error,
      "validation_error: The model returned the following errors: messages.0.content.1.image.source.bytes: Could not process image",
    );
    assert.equal(s.answer, "");
    assert.equal(s.streaming, false);

    // A file that is not an image, picked in place of that one: refused when attached, and the
    // previous image goes with it (the control shows no file, so none may be sent).
    await page.setInputFiles("#image", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
    await waitFor("the file type error", async () => (await snapshot()).error === "Images must be PNG, JPEG, GIF or WebP");
    assert.equal(await page.$eval("#image", (i) => i.files.length), 0, "the refused file stayed attached");
    assert.equal(
      await page.$eval("#preview", (img) => getComputedStyle(img).display),
      "none",
      "the previous image is still previewed after a refused file",
    );

    // Thinking on a model without reasoning: Bedrock's message, nothing else.
    await page.check("#think");
    await send("Why is the sky blue", NO_REASONING_MODEL);
    s = await finished();
    assert.deepEqual(
      converseBodies.at(-1).messages[0].content,
      [{ text: "Why is the sky blue" }],
      "an image no longer attached was sent",
    );
    assert.equal(s.error, "validation_error: The model returned the following errors: thinking: Extra inputs are not permitted");
    assert.equal(s.answer, "");
    assert.equal(s.stats, "");
    const box = await page.$eval("#error", (e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden";
    });
    assert.ok(box, "#error is not visible");
    await page.screenshot({ path: path.join(screenshots, "agents-errors.png"), fullPage: true });

    // The same model without thinking answers: the error was about thinking, and it clears.
    await page.uncheck("#think");
    await send("Why is the sky blue", NO_REASONING_MODEL);
    s = await finished();
    assert.equal(s.error, "");
    assert.ok(s.answer.startsWith("Scripted answer to: Why is the sky blue"), s.answer);
  });

  test("nothing was fetched from outside and no script errors were raised", () => {
    assert.ok(converseBodies.length >= 7, `too few /converse requests: ${converseBodies.length}`);
    for (const url of requests) {
      // blob:http://127.0.0.1:PORT/UUID is the preview of an attached file: local by origin.
      const u = new URL(url.startsWith("blob:") ? url.slice(5) : url);
      assert.equal(u.hostname, "127.0.0.1", `the page fetched ${url}`);
    }
    assert.deepEqual(pageErrors, []);
    // Chromium logs a failed fetch (the 400s above) as a console error; nothing else may appear.
    const unexpected = consoleErrors.filter((m) => !/status of 400 \(Bad Request\)/.test(m));
    assert.deepEqual(unexpected, []);
  });
});
