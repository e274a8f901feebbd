#!/usr/bin/env node
// The caller's cost of recording: CPU microseconds per logEvent (validate, encode, queue) and per
// generation() + end() of a typical LLM call, measured with nothing sent (the queue drops past 2000 events, so
// memory stays flat). Prints JSON; never part of the test run. Run after `npm run build`:
//   node bench/overhead.mjs
import { Lynex } from "@lynex/sdk";

const lynex = new Lynex({
  apiKey: "k",
  projectId: "p",
  baseUrl: "http://127.0.0.1:9",
  flushAt: 1e9,
  flushBytes: 1e12,
  flushIntervalMs: 1e9,
  maxQueueSize: 2000,
  exitFlushTimeoutMs: 0,
  onError: () => {},
});
const event = () => ({
  name: "chat gpt-4o",
  type: "llm",
  model: "gpt-4o",
  provider: "openai",
  start_time: Date.now(),
  end_time: Date.now() + 1,
  input: [{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }],
  output: { messages: [{ role: "assistant", content: "Paris." }] },
  usage: { input_tokens: 21, output_tokens: 3 },
  user_id: "u-7",
  tags: ["prod"],
});
const generation = () => {
  const g = lynex.generation({ name: "chat", model: "gpt-4o", input: [{ role: "user", content: "Capital of France?" }] });
  g.end({ output: "Paris.", usage: { input_tokens: 21, output_tokens: 3 } });
};

function cpuMicros(fn, n) {
  for (let i = 0; i < n / 5; i++) fn(); // warm up the JIT
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const used = process.cpuUsage(start);
  return Number(((used.user + used.system) / n).toFixed(2));
}

const n = Number(process.argv[2] ?? 100_000);
const result = {
  calls: n,
  log_event_cpu_us: cpuMicros(() => lynex.logEvent(event()), n),
  generation_cpu_us: cpuMicros(generation, n),
  node: process.version,
};
console.log(JSON.stringify(result));
process.exit(0);
