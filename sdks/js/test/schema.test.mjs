// The event types are generated from the server's schema and up to date; the validator refuses bad events
// before they are queued, reports them, and never sends them.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Lynex, LynexValidationError, validateEvent } from "@lynex/sdk";

import { OUTPUT_PATH, SCHEMA_PATH, render } from "../scripts/gen-event-types.mjs";
import { recorder } from "./helpers.mjs";

test("src/event-types.ts is what the generator makes from lynex_box/schema/event.schema.json", () => {
  const expected = render(JSON.parse(readFileSync(SCHEMA_PATH, "utf8")));
  assert.equal(readFileSync(OUTPUT_PATH, "utf8"), expected, "run `npm run gen` in sdks/js and commit src/event-types.ts");
});

test("the generator refuses a schema keyword the validator does not check", () => {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, "utf8"));
  schema.properties.name.pattern = "^x";
  assert.throws(() => render(schema), /keyword "pattern" is not checked by the SDK/);
});

test("a complete valid event has no problems", () => {
  const event = {
    event_id: "e1",
    trace_id: "t1",
    span_id: "s1",
    parent_span_id: null,
    name: "chat",
    type: "llm",
    start_time: "2026-11-27T10:00:00.120Z",
    end_time: 1795000000000.5,
    model: "gpt-4o",
    input: [{ role: "user", content: "hi" }],
    output: { messages: [] },
    usage: { input_tokens: 3, output_tokens: 1, total_tokens: null },
    cost: { total: 0.25 },
    status: "ok",
    error: { type: "E", message: "m" },
    tags: ["a"],
    metadata: { k: 1 },
    prompt: { name: "qa", version: 3 },
    tool_calls: [{ id: null, name: "f", arguments: { a: 1 } }],
    extra_unknown_field: "ignored by the server",
    start_date_as_undefined: undefined,
  };
  assert.deepEqual(validateEvent(event), []);
  assert.deepEqual(validateEvent({ ...event, start_time: new Date("2026-11-27T10:00:00Z") }), []);
});

test("each wrong field is named", () => {
  const problems = validateEvent({
    event_id: "x".repeat(257),
    type: "bogus",
    start_time: "yesterday",
    end_time: -1,
    name: 7,
    usage: { input_tokens: 1.5, bogus: 1 },
    cost: { total: -2 },
    tags: ["a", 1],
    tool_calls: [{ name: 3 }],
    metadata: [],
    input: () => 1,
  });
  const fields = problems.map((p) => p.split(":")[0]);
  assert.deepEqual(fields, [
    "event.event_id",
    "event.type",
    "event.start_time",
    "event.end_time",
    "event.name",
    "event.usage.input_tokens",
    "event.usage.bogus",
    "event.cost.total",
    "event.tags[1]",
    "event.tool_calls[0].name",
    "event.metadata",
    "event.input",
  ]);
  assert.match(problems[2], /"yesterday" is not an RFC 3339 time/);
});

test("an invalid event is reported to onError and never sent", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const errors = [];
  const lynex = new Lynex({ apiKey: "k", projectId: "p", baseUrl: rec.url, onError: (e) => errors.push(e) });
  assert.equal(lynex.logEvent({ name: "bad", usage: { input_tokens: "3" } }), undefined);
  assert.equal(lynex.logEvent("not an object"), undefined);
  const cyclic = { name: "cyclic" };
  cyclic.metadata = { self: cyclic };
  assert.equal(lynex.logEvent(cyclic), undefined);
  const good = lynex.logEvent({ name: "good" });
  assert.match(good, /^[0-9a-f]{32}$/);
  assert.equal(await lynex.shutdown(5000), true);
  assert.equal(errors.length, 3);
  assert.ok(errors.every((e) => e instanceof LynexValidationError));
  assert.match(errors[0].message, /event\.usage\.input_tokens: expected integer or null, got string/);
  const sent = rec.posts().flatMap((r) => r.json.events);
  assert.deepEqual(sent.map((e) => e.name), ["good"]);
  assert.equal(lynex.stats.invalid, 3);
});

test("without onError an invalid event is a console warning", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const warned = [];
  t.mock.method(console, "warn", (msg) => warned.push(msg));
  const lynex = new Lynex({ apiKey: "k", projectId: "p", baseUrl: rec.url });
  lynex.logEvent({ status: "fine" });
  await lynex.shutdown(5000);
  assert.equal(warned.length, 1);
  assert.match(warned[0], /^lynex: invalid event: event\.status: "fine" is not one of/);
  assert.equal(rec.posts().length, 0);
});

test("missing configuration throws at construction with a hint", () => {
  const saved = { ...process.env };
  try {
    delete process.env.LYNEX_API_KEY;
    delete process.env.LYNEX_PROJECT;
    delete process.env.LYNEX_BASE_URL;
    assert.equal(new Lynex({ apiKey: "k", projectId: "p", exitFlushTimeoutMs: 0 }).config.baseUrl, "http://127.0.0.1:4318");
    assert.throws(() => new Lynex({ projectId: "p" }), /no API key; hint: pass apiKey or set LYNEX_API_KEY/);
    assert.throws(() => new Lynex({ apiKey: "k" }), /no project id; hint: pass projectId or set LYNEX_PROJECT/);
    assert.throws(() => new Lynex({ apiKey: "k", projectId: "p", flushAt: 0 }), /flushAt is 0/);
    process.env.LYNEX_API_KEY = "from-env";
    process.env.LYNEX_PROJECT = "proj-env";
    process.env.LYNEX_BASE_URL = "http://127.0.0.1:9/";
    const lynex = new Lynex({ exitFlushTimeoutMs: 0 });
    assert.equal(lynex.config.apiKey, "from-env");
    assert.equal(lynex.config.projectId, "proj-env");
    assert.equal(lynex.config.baseUrl, "http://127.0.0.1:9");
  } finally {
    process.env = saved;
  }
});
