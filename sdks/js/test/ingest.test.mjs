// Against the real server: what the SDK sends arrives with the right fields, read back through the query API.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Lynex } from "@lynex/sdk";

import { eventually, needsServer, query, report, server, sleep, spansOf } from "./helpers.mjs";

function client(opts = {}) {
  const errors = [];
  const lynex = new Lynex({ ...server, onError: (e) => errors.push(e), ...opts });
  return { lynex, errors };
}

test("logEvent: every field of a raw event arrives (gzip body)", needsServer, async () => {
  const { lynex, errors } = client({ compressMinBytes: 0 });
  const traceId = `js-raw-${Date.now()}`;
  const start = Date.now() - 2000;
  const root = lynex.logEvent({
    trace_id: traceId,
    span_id: `${traceId}-root`,
    name: "answer-question",
    type: "agent",
    start_time: start,
    end_time: start + 1500,
    user_id: "u-7",
    session_id: "chat-19",
    environment: "test",
    release: "r1",
    tags: ["prod", "js"],
    metadata: { region: "eu" },
  });
  const llm = lynex.logEvent({
    trace_id: traceId,
    span_id: `${traceId}-llm`,
    parent_span_id: `${traceId}-root`,
    name: "chat gpt-4o",
    type: "llm",
    start_time: new Date(start + 100).toISOString(),
    end_time: new Date(start + 1100).toISOString(),
    model: "gpt-4o",
    provider: "openai",
    input: [{ role: "user", content: "Capital of France?" }],
    output: { messages: [{ role: "assistant", content: "Paris." }] },
    usage: { input_tokens: 21, output_tokens: 3 },
    cost: { total: 0.25 },
    prompt: { name: "qa", version: 3 },
    tool_calls: [{ id: "c1", name: "search", arguments: { q: "France" } }],
    status: "error",
    error: { type: "Timeout", message: "slow" },
  });
  assert.equal(await lynex.shutdown(10_000), true);
  assert.deepEqual(errors, []);
  report({ test: "raw", trace_id: traceId, event_ids: [root, llm] });
  const spans = await spansOf(traceId, 2);
  const byId = Object.fromEntries(spans.map((s) => [s.event_id, s]));
  const r = byId[root];
  assert.equal(r.name, "answer-question");
  assert.equal(r.kind, "agent");
  assert.equal(r.duration_ms, 1500);
  assert.deepEqual([r.user_id, r.session_id, r.environment, r.release], ["u-7", "chat-19", "test", "r1"]);
  assert.deepEqual(r.tags, ["prod", "js"]);
  assert.deepEqual(r.attributes.metadata, { region: "eu" });
  const l = byId[llm];
  assert.equal(l.parent_span_id, `${traceId}-root`);
  assert.deepEqual([l.kind, l.model, l.provider, l.duration_ms], ["llm", "gpt-4o", "openai", 1000]);
  assert.deepEqual([l.input_tokens, l.output_tokens, l.total_tokens], [21, 3, 24]);
  assert.deepEqual([l.total_cost, l.cost_source], [0.25, "reported"]);
  assert.deepEqual(l.input, { messages: [{ role: "user", content: "Capital of France?" }] });
  assert.deepEqual(l.output.messages, [{ role: "assistant", content: "Paris." }]);
  assert.deepEqual([l.prompt_name, String(l.prompt_version)], ["qa", "3"]);
  assert.deepEqual(l.tool_calls, [{ id: "c1", name: "search", arguments: { q: "France" } }]);
  assert.deepEqual([l.status, l.status_message], ["error", "slow"]);
});

test("trace, span, generation and score arrive as one trace", needsServer, async () => {
  const { lynex, errors } = client({ environment: "staging", release: "v9" });
  const trace = lynex.trace({ name: "handle-request", userId: "u-1", sessionId: "s-1", tags: ["t"], input: { q: "hi" } });
  const retrieve = trace.span({ name: "retrieve", type: "retriever", input: "hi" });
  retrieve.end({ output: ["doc-1", "doc-2"] });
  const gen = trace.generation({ name: "chat", model: "gpt-4o-mini", input: [{ role: "user", content: "hi" }] });
  await sleep(20);
  gen.end({ output: "hello", usage: { input_tokens: 5, output_tokens: 1 }, responseModel: "gpt-4o-mini-2024-07-18" });
  const failing = trace.span({ name: "tool" });
  failing.end({ error: new TypeError("bad tool input") });
  trace.end({ output: { answer: "hello" } });
  const scoreId = gen.score({ name: "helpfulness", value: 0.8, comment: "fine" });
  assert.equal(await lynex.shutdown(10_000), true);
  assert.deepEqual(errors, []);
  report({ test: "trace", trace_id: trace.traceId, event_ids: [trace.spanId, retrieve.spanId, gen.spanId, failing.spanId] });

  const spans = await spansOf(trace.traceId, 4);
  const by = Object.fromEntries(spans.map((s) => [s.name, s]));
  assert.equal(by["handle-request"].parent_span_id, null);
  for (const name of ["retrieve", "chat", "tool"]) {
    assert.equal(by[name].parent_span_id, trace.spanId, name);
    assert.deepEqual([by[name].user_id, by[name].session_id, by[name].environment, by[name].release], ["u-1", "s-1", "staging", "v9"]);
  }
  assert.equal(by.retrieve.kind, "retriever");
  assert.deepEqual(by.retrieve.output, ["doc-1", "doc-2"]);
  assert.deepEqual([by.chat.kind, by.chat.model, by.chat.response_model], ["llm", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"]);
  assert.deepEqual([by.chat.input_tokens, by.chat.output_tokens], [5, 1]);
  assert.ok(by.chat.duration_ms >= 15, `duration ${by.chat.duration_ms}`);
  assert.deepEqual([by.tool.status, by.tool.status_message, by.tool.attributes["error.type"]], ["error", "bad tool input", "TypeError"]);
  assert.deepEqual(by["handle-request"].tags, ["t"]);
  const detail = await query(`traces/${trace.traceId}`);
  assert.equal(detail.trace.user_id, "u-1");
  const scores = await eventually(async () => (await query(`scores?trace_id=${trace.traceId}`)).items);
  assert.deepEqual(
    scores.map((s) => [s.id, s.span_id, s.name, s.value, s.comment, s.environment]),
    [[scoreId, gen.spanId, "helpfulness", 0.8, "fine", "staging"]],
  );
});

test("observe: nested async calls become parent and children, concurrent calls keep their own", needsServer, async () => {
  const { lynex, errors } = client();
  const user = `u-obs-${Date.now()}`;
  const lookup = lynex.observe(async (city) => {
    await sleep(5);
    return { city, temp: 21 };
  }, { name: "lookup", type: "tool" });
  const answer = lynex.observe(async function answer(question, city) {
    await sleep(5);
    const weather = await lookup(city);
    await sleep(5);
    if (city === "Nowhere") throw new RangeError("unknown city");
    return `${weather.temp}C in ${city}`;
  }, { userId: user });
  const results = await Promise.allSettled([answer("weather?", "Paris"), answer("weather?", "Oslo"), answer("weather?", "Nowhere")]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected"]);
  assert.equal(results[0].value, "21C in Paris");
  assert.equal(results[2].reason.message, "unknown city");
  const sync = lynex.observe((a, b) => a + b, { name: "add" });
  assert.equal(sync(2, 3), 5);
  assert.equal(await lynex.shutdown(10_000), true);
  assert.deepEqual(errors, []);

  const roots = await eventually(async () => {
    const items = (await query(`spans?name=answer&user_id=${user}&limit=100`)).items;
    return items.length >= 3 ? items : undefined;
  });
  const seen = new Set();
  assert.equal(roots.length, 3);
  for (const root of roots) {
    const spans = await spansOf(root.trace_id, 2);
    assert.equal(spans.length, 2);
    const child = spans.find((s) => s.name === "lookup");
    const parent = spans.find((s) => s.name === "answer");
    assert.equal(child.parent_span_id, parent.span_id);
    assert.equal(child.user_id, user);
    assert.equal(child.kind, "tool");
    assert.deepEqual(parent.input, ["weather?", child.output.city]);
    seen.add(child.output.city);
    if (child.output.city === "Nowhere") {
      assert.deepEqual([parent.status, parent.status_message], ["error", "unknown city"]);
    } else {
      assert.equal(parent.output, `21C in ${child.output.city}`);
    }
    report({ test: "observe", trace_id: root.trace_id, event_ids: spans.map((s) => s.event_id) });
  }
  assert.deepEqual([...seen].sort(), ["Nowhere", "Oslo", "Paris"]);
});

test("a Node script that ends without flush() still delivers (beforeExit)", needsServer, async () => {
  const { execFileSync } = await import("node:child_process");
  const traceId = `js-exit-${Date.now()}`;
  const script = `
    const { Lynex } = require("@lynex/sdk");
    const lynex = new Lynex(); // LYNEX_API_KEY, LYNEX_BASE_URL, LYNEX_PROJECT from the environment
    lynex.logEvent({ trace_id: ${JSON.stringify(traceId)}, name: "last-words", start_time: Date.now() });
    console.log("exiting with", lynex.stats.events.queued, "queued");
  `;
  const out = execFileSync(process.execPath, ["-e", script], { cwd: new URL("..", import.meta.url), env: process.env, timeout: 20_000 });
  assert.match(out.toString(), /exiting with 1 queued/);
  const spans = await spansOf(traceId, 1);
  assert.deepEqual(spans.map((s) => s.name), ["last-words"]);
  report({ test: "exit", trace_id: traceId, event_ids: spans.map((s) => s.event_id) });
});
