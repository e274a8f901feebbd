// wrapOpenAI against the real `openai` client talking to a local fake OpenAI server: the caller gets exactly
// what the unwrapped client gives, and the real Lynex server stores the call (model, messages, usage, tool
// calls, errors), streamed and not.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import { Lynex, wrapOpenAI } from "@lynex/sdk";
import OpenAI from "openai";

import { needsServer, report, server, spansOf } from "./helpers.mjs";

const COMPLETION = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1795000000,
  model: "gpt-4o-2024-08-06",
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
      },
      finish_reason: "tool_calls",
    },
  ],
  usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42, prompt_tokens_details: { cached_tokens: 10 } },
};

function chunk(delta, extra = {}) {
  return { id: "chatcmpl-2", object: "chat.completion.chunk", created: 1795000000, model: "gpt-4o-mini-2024-07-18", choices: [{ index: 0, delta, finish_reason: null }], ...extra };
}

const CHUNKS = [
  chunk({ role: "assistant", content: "" }),
  chunk({ content: "It is " }),
  chunk({ content: "sunny." }),
  chunk({ tool_calls: [{ index: 0, id: "call_9", type: "function", function: { name: "log_answer", arguments: '{"ok":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: "true}" } }] }),
  { ...chunk({}), choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
  { ...chunk({}), choices: [], usage: { prompt_tokens: 8, completion_tokens: 4, total_tokens: 12 } },
];

async function fakeOpenAI() {
  const srv = createServer(async (req, res) => {
    let text = "";
    for await (const part of req) text += part;
    const body = JSON.parse(text);
    if (body.messages.at(-1)?.content === "fail") {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "model is overloaded today", type: "invalid_request_error", code: "bad_model" } }));
      return;
    }
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json", "x-request-id": "req-1" });
      res.end(JSON.stringify(COMPLETION));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (const c of CHUNKS) res.write(`data: ${JSON.stringify(c)}\n\n`);
    res.end("data: [DONE]\n\n");
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${srv.address().port}/v1`, close: () => new Promise((r) => srv.close(r)) };
}

const MESSAGES = [
  { role: "system", content: "You are a weather bot." },
  { role: "user", content: "Weather in Paris?" },
];

test("wrapOpenAI records chat completions, streamed and not, without changing what the caller gets", needsServer, async (t) => {
  const fake = await fakeOpenAI();
  t.after(() => fake.close());
  const errors = [];
  const lynex = new Lynex({ ...server, onError: (e) => errors.push(e) });
  const plain = new OpenAI({ apiKey: "sk-test", baseURL: fake.url, maxRetries: 0 });
  const openai = wrapOpenAI(new OpenAI({ apiKey: "sk-test", baseURL: fake.url, maxRetries: 0 }), lynex, { tags: ["wrapped"] });
  const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];

  let traceId;
  const run = lynex.observe(async () => {
    traceId = lynex.currentSpan().traceId;
    // 1. not streamed, with a tool call; withResponse() still works on the returned promise
    const params = { model: "gpt-4o", messages: MESSAGES, tools, temperature: 0.2 };
    const { data, response } = await openai.chat.completions.create(params).withResponse();
    assert.deepEqual(data, await plain.chat.completions.create(params));
    assert.equal(response.headers.get("x-request-id"), "req-1");

    // 2. streamed: the same chunks, in order
    const sparams = { model: "gpt-4o-mini", messages: MESSAGES, stream: true, stream_options: { include_usage: true } };
    const got = [];
    for await (const c of await openai.chat.completions.create(sparams)) got.push(c);
    const want = [];
    for await (const c of await plain.chat.completions.create(sparams)) want.push(c);
    assert.deepEqual(got, want);
    assert.equal(got.length, CHUNKS.length);

    // 3. an error: the same error class, status and message
    const failing = { model: "gpt-4o", messages: [{ role: "user", content: "fail" }] };
    const err = await openai.chat.completions.create(failing).catch((e) => e);
    const plainErr = await plain.chat.completions.create(failing).catch((e) => e);
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.deepEqual([err.status, err.message], [plainErr.status, plainErr.message]);
    return "done";
  }, { name: "weather-agent" });
  assert.equal(await run(), "done");
  assert.equal(await lynex.shutdown(10_000), true);
  assert.deepEqual(errors, []);

  const spans = await spansOf(traceId, 4);
  report({ test: "openai", trace_id: traceId, event_ids: spans.map((s) => s.event_id) });
  const agent = spans.find((s) => s.name === "weather-agent");
  const calls = spans.filter((s) => s.kind === "llm").sort((a, b) => a.start_time.localeCompare(b.start_time));
  assert.equal(calls.length, 3);
  for (const call of calls) {
    assert.equal(call.parent_span_id, agent.span_id);
    assert.equal(call.provider, "openai");
    assert.deepEqual(call.tags, ["wrapped"]);
  }

  const [plainCall, streamed, failed] = calls;
  assert.deepEqual([plainCall.name, plainCall.model, plainCall.response_model], ["chat gpt-4o", "gpt-4o", "gpt-4o-2024-08-06"]);
  assert.deepEqual(plainCall.input.messages, MESSAGES);
  assert.deepEqual(plainCall.output.messages, [
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }] },
  ]);
  assert.equal(plainCall.output.finish_reason, "tool_calls");
  assert.deepEqual(plainCall.tool_calls, [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }]);
  assert.deepEqual([plainCall.input_tokens, plainCall.output_tokens, plainCall.cached_tokens, plainCall.total_tokens], [30, 12, 10, 42]);
  assert.deepEqual(plainCall.attributes.metadata.parameters, { temperature: 0.2 });
  assert.deepEqual(plainCall.attributes.metadata.tools, ["get_weather"]);
  assert.equal(plainCall.status, "ok");

  assert.deepEqual([streamed.model, streamed.response_model], ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"]);
  assert.deepEqual(streamed.output.messages, [
    { role: "assistant", content: "It is sunny.", tool_calls: [{ id: "call_9", name: "log_answer", arguments: '{"ok":true}' }] },
  ]);
  assert.equal(streamed.output.finish_reason, "stop");
  assert.deepEqual([streamed.input_tokens, streamed.output_tokens], [8, 4]);
  assert.equal(streamed.attributes.metadata.stream, true);
  assert.equal(typeof streamed.attributes.metadata.time_to_first_token_ms, "number");

  assert.deepEqual([failed.status, failed.status_message], ["error", "400 model is overloaded today"]); // err.message
  assert.equal(failed.attributes["error.type"], "BadRequestError");
  assert.deepEqual([failed.attributes.metadata.http_status, failed.attributes.metadata.error_code], [400, "bad_model"]);
});

test("a stream left early and a tee()d stream are each recorded once", needsServer, async (t) => {
  const fake = await fakeOpenAI();
  t.after(() => fake.close());
  const lynex = new Lynex({ ...server });
  const openai = wrapOpenAI(new OpenAI({ apiKey: "sk-test", baseURL: fake.url, maxRetries: 0 }), lynex);
  const trace = lynex.trace({ name: "early-exit" });
  await trace.run(async () => {
    const params = { model: "gpt-4o-mini", messages: MESSAGES, stream: true };
    for await (const c of await openai.chat.completions.create(params)) {
      if (c.choices[0]?.delta?.content === "It is ") break;
    }
    const [left, right] = (await openai.chat.completions.create(params)).tee();
    const seen = [];
    for await (const c of left) seen.push(c);
    for await (const c of right) seen.push(c);
    assert.equal(seen.length, 2 * CHUNKS.length);
  });
  trace.end();
  assert.equal(await lynex.shutdown(10_000), true);
  const spans = await spansOf(trace.traceId, 3);
  assert.equal(spans.length, 3);
  const outputs = spans.filter((s) => s.kind === "llm").map((s) => s.output.messages[0].content).sort();
  assert.deepEqual(outputs, ["It is ", "It is sunny."]);
});
