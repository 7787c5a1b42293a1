// End-to-end test of the page `bedrock-stream serve` returns at GET /, driven in Debian's
// headless Chromium through playwright-core (no browser download: executablePath is the
// distribution's /usr/bin/chromium).
//
// Two processes, both on 127.0.0.1 port 0:
//   local-bedrock --engine scripted --chunk-delay-ms 40   (a Bedrock-runtime endpoint whose
//       /_emulator/stats counts cancelled generations and /_emulator/faults injects errors)
//   serve --bedrock http://LOCAL                         (the function, which serves the page)
// The scripted engine writes one word per 40 ms, so a prompt of a few words streams for ~1-2.5 s.
//
// Checks: the model picker is filled from /v1/models; the answer grows while it streams and
// ends with tokens and latency; Stop aborts the request, the text stops growing, the page says
// "stopped" and the generation upstream is cancelled; a throttle is shown plainly; and nothing
// is fetched from anywhere but the local server. Leaves screenshots in tests/browser/screenshots/.
//
// Run with `node --test tests/browser/` (or tests/browser/run.sh, which also installs what it
// needs). The serve binary is $BEDROCK_STREAM_BIN, default target/debug/bedrock-stream.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";
import {
  ACTION_TIMEOUT_MS, STARTUP_TIMEOUT_MS, bin, chromiumPath, deadline, screenshots, startServer, stopServer, waitFor,
} from "./support.mjs";

const CHUNK_DELAY_MS = 40;

async function getJson(url, init = {}) {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  const body = await r.json();
  assert.ok(r.ok, `${init.method || "GET"} ${url}: ${r.status} ${JSON.stringify(body)}`);
  return body;
}


describe("the page at GET /", { timeout: 120_000 }, () => {
  let bedrock, serve, browser, page;
  const requests = [];
  const pageErrors = [];

  /** What the test reads off the page in one step. */
  const snapshot = () =>
    page.evaluate(() => ({
      answer: document.getElementById("answer").textContent,
      streaming: document.getElementById("answer").classList.contains("streaming"),
      stats: document.getElementById("stats").textContent,
      error: document.getElementById("error").textContent,
      sendDisabled: document.getElementById("send").disabled,
      stopDisabled: document.getElementById("stop").disabled,
    }));

  /** Fills the prompt and clicks Send, after the previous request has finished. */
  async function send(prompt) {
    await page.waitForSelector("#send:not([disabled])", { timeout: ACTION_TIMEOUT_MS });
    await page.fill("#prompt", prompt);
    await page.click("#send");
  }

  before(async () => {
    assert.ok(existsSync(bin), `${bin} is missing: run 'cargo build -p bedrock-stream' or set BEDROCK_STREAM_BIN`);
    assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium (tests/browser/run.sh does)`);
    mkdirSync(screenshots, { recursive: true });

    bedrock = await startServer("local-bedrock", [
      "local-bedrock", "--engine", "scripted", "--chunk-delay-ms", String(CHUNK_DELAY_MS), "--listen", "127.0.0.1:0",
    ]);
    // One attempt per Bedrock call, so one injected throttle reaches the page instead of being
    // retried away by the SDK's standard retry mode.
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
    const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    context.on("request", (req) => requests.push(req.url()));
    page = await context.newPage();
    page.setDefaultTimeout(ACTION_TIMEOUT_MS);
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    const resp = await page.goto(serve.url + "/", { waitUntil: "load", timeout: ACTION_TIMEOUT_MS });
    assert.equal(resp.status(), 200);
  });

  after(async () => {
    try {
      if (browser) await Promise.race([browser.close(), deadline(10_000)]);
    } finally {
      await stopServer(serve);
      await stopServer(bedrock);
    }
  });

  test("the model picker is filled from /v1/models", async () => {
    const models = await getJson(serve.url + "/v1/models");
    await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0, null, {
      timeout: ACTION_TIMEOUT_MS,
    });
    const options = await page.$$eval("#model option", (os) => os.map((o) => o.value));
    assert.ok(options.length > 0, "no models in the picker");
    assert.deepEqual(options, models.data.map((m) => m.id));
    const s = await snapshot();
    assert.equal(s.error, "", "the page showed an error on load");
    assert.equal(s.stopDisabled, true, "Stop is enabled before anything was sent");
  });

  test("the answer grows while it streams, then shows tokens and latency", async () => {
    const prompt = "Explain streaming briefly";
    await send(prompt);
    await page.waitForFunction(() => document.getElementById("answer").textContent.length > 0, null, {
      timeout: ACTION_TIMEOUT_MS,
    });

    // Sample every ~100 ms while the answer is still streaming (at most 8 samples).
    const samples = [];
    for (let i = 0; i < 8; i++) {
      const s = await snapshot();
      if (!s.streaming) break;
      samples.push(s.answer.length);
      await sleep(100);
    }
    assert.ok(samples.length >= 3, `only ${samples.length} sample(s) while streaming: ${samples}`);
    for (let i = 1; i < samples.length; i++) {
      assert.ok(samples[i] > samples[i - 1], `the answer did not grow between samples: ${samples}`);
    }

    await page.waitForFunction(() => document.getElementById("stats").textContent !== "", null, {
      timeout: ACTION_TIMEOUT_MS,
    });
    const s = await snapshot();
    assert.ok(s.answer.startsWith("Scripted answer to:"), `unexpected answer: ${s.answer}`);
    assert.ok(s.answer.includes(prompt), `the answer does not echo the prompt: ${s.answer}`);
    assert.ok(s.answer.length > samples.at(-1), "the final answer is not longer than the last sample");
    assert.ok(!s.answer.includes("\uFFFD"), `mangled UTF-8 in the answer: ${s.answer}`);
    assert.match(s.stats, /stop: end_turn/);
    assert.match(s.stats, /\b\d+ in \/ \d+ out tokens\b/);
    assert.match(s.stats, /first byte \d+ ms/);
    assert.match(s.stats, /total \d+ ms/);
    assert.equal(s.error, "");
    assert.equal(s.streaming, false);
    assert.equal(s.sendDisabled, false);
    assert.equal(s.stopDisabled, true);
    await page.screenshot({ path: path.join(screenshots, "page.png"), fullPage: true });
  });

  test("Stop aborts the request, the text stops growing, and the generation is cancelled", async () => {
    const initial = await getJson(bedrock.url + "/_emulator/stats");
    await send("Tell me about rivers");
    await page.waitForSelector("#stop:not([disabled])", { timeout: ACTION_TIMEOUT_MS });
    await sleep(300);
    const mid = await snapshot();
    assert.equal(mid.streaming, true, "the answer finished before Stop could be clicked");
    await page.click("#stop");

    await page.waitForFunction(() => /stopped/.test(document.getElementById("stats").textContent), null, {
      timeout: ACTION_TIMEOUT_MS,
    });
    const stopped = await snapshot();
    await sleep(500);
    const later = await snapshot();
    assert.ok(stopped.answer.startsWith("Scripted answer to:"), `nothing had streamed before Stop: ${stopped.answer}`);
    assert.equal(later.answer.length, stopped.answer.length, "the answer kept growing after Stop");
    assert.match(later.stats, /^stopped after \d+ ms$/);
    assert.doesNotMatch(later.stats, /tokens/, "the stream finished instead of being stopped");
    assert.equal(later.error, "");
    assert.equal(later.streaming, false);
    assert.equal(later.sendDisabled, false);
    assert.equal(later.stopDisabled, true);

    const stats = await waitFor("local-bedrock to count the cancelled generation", async () => {
      const s = await getJson(bedrock.url + "/_emulator/stats");
      return s.cancelled >= initial.cancelled + 1 && s.in_flight === 0 ? s : null;
    });
    assert.ok(stats.cancelled >= 1);
    assert.equal(stats.completed, initial.completed, "the stopped generation ran to completion upstream");
    await page.screenshot({ path: path.join(screenshots, "page-stopped.png"), fullPage: true });
  });

  test("a throttle from Bedrock is shown plainly", async () => {
    await getJson(bedrock.url + "/_emulator/faults", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind: "throttle", count: 1 }),
    });
    await send("Hello there");
    await page.waitForFunction(() => document.getElementById("error").textContent !== "", null, {
      timeout: ACTION_TIMEOUT_MS,
    });
    await page.waitForSelector("#send:not([disabled])", { timeout: ACTION_TIMEOUT_MS });
    const s = await snapshot();
    assert.match(s.error, /^throttled: /);
    assert.equal(s.answer, "");
    assert.equal(s.streaming, false);
    const faults = await getJson(bedrock.url + "/_emulator/faults");
    assert.deepEqual(faults.pending, [], "the injected throttle was not used");
    const box = await page.$eval("#error", (e) => {
      const r = e.getBoundingClientRect();
      return { visible: r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden" };
    });
    assert.ok(box.visible, "#error is not visible");
    await page.screenshot({ path: path.join(screenshots, "page-error.png"), fullPage: true });
  });

  test("the page fetched nothing from outside and raised no script errors", () => {
    assert.ok(requests.length >= 4, `too few requests recorded: ${requests}`);
    for (const url of requests) {
      assert.equal(new URL(url).hostname, "127.0.0.1", `the page fetched ${url}`);
    }
    const paths = requests.map((u) => new URL(u).pathname);
    assert.ok(paths.includes("/v1/models"), `no /v1/models request: ${paths}`);
    assert.ok(paths.includes("/converse"), `no /converse request: ${paths}`);
    assert.deepEqual(pageErrors, []);
  });
});
