// llama.cpp (through node-llama-cpp's prebuilt binaries) on the same GGUF, prompt and thread
// count as `examples/bench.rs`, measured the same way. `crates/bench/peers/setup.sh` installs
// node-llama-cpp 3.22.1 into target/bench-peers/node (or install it anywhere with
// `npm install node-llama-cpp@3.22.1`):
//
//   NODE_PATH=target/bench-peers/node/node_modules node crates/bedrock-local-model/bench/llama-cpp.mjs \
//     --model ~/.cache/bedrock-stream/models/SmolLM2-135M-Instruct.Q4_1.gguf --tokens 200 --threads 2
//
// Options: --tokens N (200), --threads N (2), --runs N (5, after one warm-up run),
// --warmup-tokens N (as --tokens), --max-seconds S (the warm-up, and then the measured runs
// together, stop after S seconds: no new run starts and a run in progress ends early, after at
// least two tokens), --json (one JSON object at the end, for `bench model`).
// `--greedy N --prompt TEXT` instead prints the prompt's ids and N greedily decoded ids (the
// reference sequences in tests/model.rs were made this way).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const base = path.resolve((process.env.NODE_PATH ?? process.cwd()).split(path.delimiter)[0]);
const require = createRequire(path.join(base, "x.js"));
const entry = require.resolve("node-llama-cpp");
const { getLlama } = await import(entry);

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (!a.startsWith("--")) return acc;
    const next = all[i + 1];
    return [...acc, [a.slice(2), next === undefined || next.startsWith("--") ? "true" : next]];
  }, []),
);
const modelPath = args.model;
const tokens = Number(args.tokens ?? 200);
const warmupTokens = Number(args["warmup-tokens"] ?? tokens);
const threads = Number(args.threads ?? 2);
const runs = Number(args.runs ?? 5);
const json = args.json === "true";
const maxSeconds = Number(args["max-seconds"] ?? Infinity);
const userText = args.prompt ?? "Write a long story about a dragon who learns to bake bread.";
// SmolLM2's chat template, as the Rust engine renders it (default system prompt included).
const system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
const chat = `<|im_start|>system\n${system}<|im_end|>\n<|im_start|>user\n${userText}<|im_end|>\n<|im_start|>assistant\n`;

/** node-llama-cpp's own package.json, found upwards from its entry point. */
function packageVersion(file) {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
      if (pkg.name === "node-llama-cpp") return pkg.version;
    } catch {}
  }
  return "?";
}

/** The ggml CPU backend variant loaded into this process (libggml-cpu-<variant>.so). */
function cpuVariant() {
  try {
    const m = readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-([\w-]+)\.so/);
    return m ? m[1] : "?";
  } catch {
    return "?";
  }
}

/** Busy ticks (USER_HZ, 100 a second) of the whole machine, from /proc/stat. */
function machineBusy() {
  try {
    const v = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  } catch {
    return NaN;
  }
}

const loadStart = performance.now();
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ threads, contextSize: 2048, batchSize: 512 });
const loadMs = performance.now() - loadStart;
const prompt = model.tokenize(chat, true);

if (args.greedy) {
  const seq = context.getSequence();
  const out = [];
  for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
    if (model.isSpecialToken?.(t) || t === model.tokens.eos) break;
    out.push(t);
    if (out.length >= Number(args.greedy)) break;
  }
  console.log(JSON.stringify({ prompt: Array.from(prompt), greedy: out, text: model.detokenize(out) }));
  process.exit(0);
}

const info = {
  nodeLlamaCpp: packageVersion(entry),
  llamaCpp: llama.llamaCppRelease,
  buildType: llama.buildType,
  variant: cpuVariant(),
  threads: context.currentThreads ?? threads,
  promptTokens: prompt.length,
  cpuMathCores: llama.cpuMathCores,
  loadMs,
};
if (!json) {
  console.log(
    `llama.cpp (node-llama-cpp ${info.nodeLlamaCpp}, ${info.buildType}, ${info.variant}) | threads ${threads} | prompt ${prompt.length} tokens | ${llama.cpuMathCores} cores`,
  );
}
const results = [];
const busy0 = machineBusy();
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
let runsStart = performance.now();
for (let run = 0; run <= runs; run++) {
  if (run === 1) runsStart = performance.now();
  if (run > 1 && (performance.now() - runsStart) / 1000 >= maxSeconds) break;
  const deadline = (run === 0 ? performance.now() : runsStart) + maxSeconds * 1000;
  const limit = run === 0 ? warmupTokens : tokens;
  const seq = context.getSequence();
  const start = performance.now();
  let first = null;
  let n = 0;
  for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
    if (t === model.tokens.eos) break;
    if (first === null) first = performance.now();
    n++;
    if (n >= limit || (n >= 2 && performance.now() > deadline)) break;
  }
  const end = performance.now();
  seq.dispose();
  const ttft = first - start;
  const rate = (n - 1) / ((end - first) / 1000);
  if (!json) {
    console.log(`${run === 0 ? "warm-up" : "run"} ${run}: ${n} tokens, ttft ${ttft.toFixed(1)} ms, decode ${rate.toFixed(1)} tok/s`);
  }
  if (run > 0) results.push({ tokens: n, ttftMs: ttft, decodeTokS: rate });
}
if (json) {
  const cpu = process.cpuUsage();
  info.cpuMs = (cpu.user + cpu.system) / 1000;
  // Cores other processes kept busy during the runs (warm-up included).
  const secs = (performance.now() - wall0) / 1000;
  const own = process.cpuUsage(cpu0);
  info.otherCores = Math.max(0, (machineBusy() - busy0) / 100 / secs - (own.user + own.system) / 1e6 / secs);
  console.log(JSON.stringify({ info, runs: results }));
} else {
  const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `median: ttft ${med(results.map((r) => r.ttftMs)).toFixed(1)} ms, decode ${med(results.map((r) => r.decodeTokS)).toFixed(1)} tok/s`,
  );
}
await context.dispose();
await model.dispose();
await llama.dispose();
