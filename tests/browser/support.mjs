// What the browser tests share: where the binary and Chromium are, starting and stopping
// bedrock-stream subcommands on 127.0.0.1 port 0 (killed with this process, whatever ends it),
// and bounded waiting. Not a test file: tests/browser/run.sh runs *.test.mjs only.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..", "..");
export const bin = path.resolve(root, process.env.BEDROCK_STREAM_BIN || "target/debug/bedrock-stream");
export const chromiumPath = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const screenshots = path.join(here, "screenshots");

export const STARTUP_TIMEOUT_MS = 30_000;
export const ACTION_TIMEOUT_MS = 10_000;

/** A timer for Promise.race bounds that does not keep the process alive once the race is won. */
export const deadline = (ms) => sleep(ms, undefined, { ref: false });

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    for (const c of children) c.kill("SIGKILL");
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]);
  });
}

/** Starts one bedrock-stream subcommand and resolves with its URL once it prints "listening on". */
export function startServer(name, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: root,
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    child.once("exit", () => children.delete(child));
    let log = "";
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${name}: ${why}\n--- output ---\n${log}`));
    };
    const timer = setTimeout(() => fail(`no "listening on" line within ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS);
    const onData = (buf) => {
      log += buf.toString();
      if (log.length > 64_000) log = log.slice(-64_000);
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ name, child, url: m[1], log: () => log });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (e) => fail(`could not start ${bin}: ${e.message}`));
    child.on("exit", (code, signal) => fail(`exited early (code ${code}, signal ${signal})`));
  });
}

/** Stops a process started by startServer: SIGTERM, then SIGKILL if it lingers. */
export async function stopServer(server) {
  if (!server) return;
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const gone = await Promise.race([exited.then(() => true), deadline(3_000).then(() => false)]);
  if (!gone) {
    child.kill("SIGKILL");
    await Promise.race([exited, deadline(3_000)]);
  }
}

/** Polls fn() every 50 ms until it returns a truthy value; fails after timeoutMs. */
export async function waitFor(what, fn, timeoutMs = ACTION_TIMEOUT_MS) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const last = await fn();
    if (last) return last;
    if (Date.now() > until) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
