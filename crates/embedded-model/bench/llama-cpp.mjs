// llama.cpp (through node-llama-cpp's prebuilt binaries) on the same GGUF, prompt and thread
// count as `examples/bench.rs`, measured the same way. Install outside the repo:
//
//   mkdir -p /tmp/llamacpp && cd /tmp/llamacpp && npm init -y && npm install node-llama-cpp@3.22.1
//   NODE_PATH=/tmp/llamacpp/node_modules node crates/embedded-model/bench/llama-cpp.mjs \
//     --model ~/.cache/bedrock-stream/models/SmolLM2-135M-Instruct.Q4_1.gguf --tokens 200 --threads 2
//
// `--greedy N --prompt TEXT` instead prints the prompt's ids and N greedily decoded ids (the
// reference sequences in tests/model.rs were made this way).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH ?? process.cwd(), "x.js"));
const { getLlama } = await import(require.resolve("node-llama-cpp"));

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const modelPath = args.model;
const tokens = Number(args.tokens ?? 200);
const threads = Number(args.threads ?? 2);
const runs = Number(args.runs ?? 5);
const userText = args.prompt ?? "Write a long story about a dragon who learns to bake bread.";
// SmolLM2's chat template, as the Rust engine renders it (default system prompt included).
const system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
const chat = `<|im_start|>system\n${system}<|im_end|>\n<|im_start|>user\n${userText}<|im_end|>\n<|im_start|>assistant\n`;

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ threads, contextSize: 2048, batchSize: 512 });
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

console.log(`llama.cpp (node-llama-cpp, ${llama.buildType}) | threads ${threads} | prompt ${prompt.length} tokens | ${llama.cpuMathCores} cores`);
const results = [];
for (let run = 0; run <= runs; run++) {
  const seq = context.getSequence();
  const start = performance.now();
  let first = null;
  let n = 0;
  for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
    if (t === model.tokens.eos) break;
    if (first === null) first = performance.now();
    n++;
    if (n >= tokens) break;
  }
  const end = performance.now();
  seq.dispose();
  const ttft = first - start;
  const rate = (n - 1) / ((end - first) / 1000);
  console.log(`${run === 0 ? "warm-up" : "run"} ${run}: ${n} tokens, ttft ${ttft.toFixed(1)} ms, decode ${rate.toFixed(1)} tok/s`);
  if (run > 0) results.push([ttft, rate]);
}
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`median: ttft ${med(results.map((r) => r[0])).toFixed(1)} ms, decode ${med(results.map((r) => r[1])).toFixed(1)} tok/s`);
