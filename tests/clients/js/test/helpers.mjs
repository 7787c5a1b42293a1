// Shared helpers for the JS SDK v3 client tests: start the already-built
// `bedrock-stream local-bedrock` binary on 127.0.0.1 (port 0, scripted engine), inject faults,
// build clients with either request handler, and compute the scripted engine's text.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..", "..", "..", "..");
const STARTUP_TIMEOUT_MS = 20_000;
/** Dummy keys: local-bedrock checks none, but every client signs. */
export const CREDENTIALS = { accessKeyId: "AKIDLOCAL", secretAccessKey: "local-secret" };
const LISTENING = /local-bedrock listening on (http:\/\/127\.0\.0\.1:\d+)/;

export function binaryPath() {
  const raw = process.env.BEDROCK_STREAM_BIN || "target/debug/bedrock-stream";
  return path.isAbsolute(raw) ? raw : path.join(REPO_ROOT, raw);
}

/** Starts `local-bedrock` and resolves once it has printed its address. */
export async function startLocalBedrock(extraArgs = [], { engine = "scripted" } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: build it first (cargo build -p bedrock-stream) or set BEDROCK_STREAM_BIN`);
  }
  const child = spawn(
    bin,
    ["local-bedrock", "--listen", "127.0.0.1:0", "--engine", engine, ...extraArgs],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`local-bedrock printed no address within ${STARTUP_TIMEOUT_MS} ms; stderr:\n${stderr}`));
    }, STARTUP_TIMEOUT_MS);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text) => {
      stderr += text;
      const m = LISTENING.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`local-bedrock exited early (${code ?? signal}); stderr:\n${stderr}`));
    });
  });

  async function control(method, pathname, body) {
    const res = await fetch(`${url}${pathname}`, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${await res.text()}`);
    const text = await res.text();
    return text.trim() ? JSON.parse(text) : null;
  }

  return {
    url,
    inject: (kind, { count = 1, exception, after } = {}) =>
      control("POST", "/_emulator/faults", { kind, count, ...(exception && { exception }), ...(after !== undefined && { after }) }),
    clearFaults: () => control("DELETE", "/_emulator/faults"),
    stats: () => control("GET", "/_emulator/stats"),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The two request handlers every scenario runs with. */
export const HANDLERS = {
  // No requestHandler: bedrock-runtime's default, NodeHttp2Handler (HTTP/2 straight away; h2c
  // with prior knowledge against an http:// endpoint).
  "default handler (HTTP/2)": () => undefined,
  "NodeHttpHandler (HTTP/1.1)": () =>
    new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 15_000 }),
};

export function makeClient(url, handlerName, { requestTimeoutMs } = {}) {
  let requestHandler = HANDLERS[handlerName]();
  if (requestTimeoutMs !== undefined) {
    requestHandler =
      requestHandler === undefined
        ? { requestTimeout: requestTimeoutMs, disableConcurrentStreams: true }
        : new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: requestTimeoutMs });
  }
  return new BedrockRuntimeClient({
    endpoint: url,
    region: "us-east-1",
    credentials: CREDENTIALS,
    maxAttempts: 1,
    ...(requestHandler !== undefined && { requestHandler }),
  });
}

// --- The scripted engine's deterministic text (crates/bedrock-local/src/engines/scripted.rs) ---

const MASK = (1n << 64n) - 1n;
const VOCABULARY = [
  "streaming", "serverless", "lambda", "bedrock", "token", "chunk", "answer", "cloud",
  "fast", "small", "rust", "model", "function", "request", "response", "event",
  "café", "naïve", "über", "日本語", "✓", "🚀", "latency", "memory",
  "byte", "frame", "header", "prompt", "stream", "text", "quick", "honest",
];

function fnv1a(s) {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(s)) {
    h = ((h ^ BigInt(b)) * 0x100000001b3n) & MASK;
  }
  return h;
}

/** "Scripted answer to: " + the first 6 words of the last user message, then words chosen by a
 * xorshift seeded with FNV-1a of the flattened prompt; one token per word. */
export function scriptedTokens(lastUser, { flat = `${lastUser}\n`, maxTokens = 256 } = {}) {
  const words = ["Scripted", "answer", "to:", ...lastUser.split(/\s+/).filter(Boolean).slice(0, 6)];
  let seed = fnv1a(flat) | 1n;
  const natural = 24 + Number(seed % 40n);
  while (words.length < natural) {
    seed ^= (seed << 13n) & MASK;
    seed ^= seed >> 7n;
    seed ^= (seed << 17n) & MASK;
    words.push(VOCABULARY[Number(seed % BigInt(VOCABULARY.length))]);
  }
  words[words.length - 1] += ".";
  return words.map((w, i) => (i === 0 ? w : ` ${w}`)).slice(0, maxTokens);
}
