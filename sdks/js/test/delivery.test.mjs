// What only the wire shows, against a local recording server: batching by count, bytes and age, gzip, the
// wait a Retry-After asks for, splitting on 413, plain bodies after a 415, the bounded queue, and the
// one-time version warning. The real server's side (nothing lost or duplicated) is in outage.test.mjs.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Lynex, LynexDeliveryError } from "@lynex/sdk";

import { recorder, sleep } from "./helpers.mjs";

function client(url, opts = {}) {
  const errors = [];
  const lynex = new Lynex({ apiKey: "key-1", projectId: "proj 1", baseUrl: url, onError: (e) => errors.push(e), ...opts });
  return { lynex, errors };
}

const ids = (rec) => rec.posts().flatMap((r) => (r.json.events ?? r.json.scores).map((e) => e.event_id ?? e.id));

test("batches by count, sends gzip with the key, and flush() sends the rest", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const { lynex } = client(rec.url, { flushAt: 10, flushIntervalMs: 60_000, compressMinBytes: 0 });
  const sent = [];
  for (let i = 0; i < 25; i++) sent.push(lynex.logEvent({ name: `e${i}`, metadata: { i } }));
  assert.equal(await lynex.flush(5000), true);
  const posts = rec.posts();
  assert.deepEqual(posts.map((p) => p.json.events.length), [10, 10, 5]);
  assert.deepEqual(ids(rec), sent);
  for (const p of posts) {
    assert.equal(p.url, "/v1/projects/proj%201/events");
    assert.equal(p.headers.authorization, "Bearer key-1");
    assert.equal(p.headers["content-encoding"], "gzip");
    assert.equal(p.headers["content-type"], "application/json");
    assert.match(p.headers["user-agent"], /^lynex-sdk-js\/0\.1\.0 \(node\)$/);
  }
  assert.deepEqual(lynex.stats.events, { queued: 0, sent: 25, dropped: 0, rejected: 0, failed: 0, retries: 0, batches: 3 });
  await lynex.shutdown();
});

test("batches by bytes; small bodies go uncompressed", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const { lynex } = client(rec.url, { flushAt: 1000, flushBytes: 3000, flushIntervalMs: 60_000, compressMinBytes: 1 << 20 });
  for (let i = 0; i < 6; i++) lynex.logEvent({ name: `e${i}`, input: "x".repeat(900) });
  assert.equal(await lynex.flush(5000), true);
  const sizes = rec.posts().map((p) => p.json.events.length);
  assert.deepEqual(sizes, [3, 3]);
  assert.ok(rec.posts().every((p) => p.headers["content-encoding"] === undefined));
  await lynex.shutdown();
});

test("sends by age without a flush", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const { lynex } = client(rec.url, { flushAt: 1000, flushIntervalMs: 500 });
  const queuedAt = Date.now();
  const id = lynex.logEvent({ name: "aged" });
  for (let i = 0; i < 500 && rec.posts().length === 0; i++) await sleep(20);
  assert.deepEqual(ids(rec), [id]);
  const waited = rec.posts()[0].at - queuedAt;
  assert.ok(waited >= 490, `sent ${waited} ms after it was queued, before flushIntervalMs (500)`);
  await lynex.shutdown();
});

test("429 with Retry-After: waits as told and resends the same ids", async (t) => {
  let posts = 0;
  const rec = await recorder((r) =>
    r.method === "POST" && posts++ === 0 ? { status: 429, headers: { "retry-after": "1" }, body: { error: {} } } : undefined,
  );
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url, { retryBaseMs: 10 });
  const a = lynex.logEvent({ name: "a" });
  const b = lynex.logEvent({ name: "b" });
  assert.equal(await lynex.flush(10_000), true);
  const [first, second] = rec.posts();
  assert.equal(rec.posts().length, 2);
  assert.ok(second.at - first.at >= 950, `retried after ${second.at - first.at} ms, Retry-After said 1 s`);
  assert.deepEqual(first.json, second.json);
  assert.deepEqual(ids(rec), [a, b, a, b]);
  assert.equal(lynex.stats.events.retries, 1);
  assert.equal(lynex.stats.events.sent, 2);
  assert.deepEqual(errors, []);
  await lynex.shutdown();
});

test("gives up after maxRetries and reports the ids", async (t) => {
  const rec = await recorder(() => ({ status: 503, headers: { "retry-after": "0" }, body: { error: { code: "overloaded", message: "busy" } } }));
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url, { maxRetries: 2, retryBaseMs: 5 });
  const id = lynex.logEvent({ name: "doomed" });
  assert.equal(await lynex.flush(5000), true);
  assert.equal(rec.posts().length, 3);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof LynexDeliveryError);
  assert.equal(errors[0].reason, "failed");
  assert.equal(errors[0].status, 503);
  assert.deepEqual(errors[0].ids, [id]);
  assert.match(errors[0].message, /no success after 3 attempts, last: overloaded: busy/);
  assert.equal(lynex.stats.events.failed, 1);
  await lynex.shutdown();
});

test("a 401 is not retried and its hint names the key", async (t) => {
  const rec = await recorder(() => ({ status: 401, body: { error: { code: "unauthorized", message: "unknown key" } } }));
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url);
  lynex.logEvent({ name: "x" });
  await lynex.flush(5000);
  assert.equal(rec.posts().length, 1);
  assert.match(errors[0].message, /unauthorized: unknown key; hint: check apiKey and projectId/);
  await lynex.shutdown();
});

test("413 splits the batch until it fits; an event too large alone is reported", async (t) => {
  const rec = await recorder((r) => {
    const events = r.json?.events ?? [];
    const big = events.some((e) => e.name === "huge");
    return events.length > 2 || (big && events.length > 1) || big ? { status: 413, body: { error: {} } } : undefined;
  });
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url, { flushAt: 100 });
  const names = ["a", "b", "c", "huge", "d"];
  for (const name of names) lynex.logEvent({ name });
  assert.equal(await lynex.flush(5000), true);
  const delivered = rec.posts().filter((p) => p.json.events.length <= 2 && !p.json.events.some((e) => e.name === "huge"));
  assert.deepEqual(delivered.flatMap((p) => p.json.events.map((e) => e.name)).sort(), ["a", "b", "c", "d"]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].reason, "too_large");
  assert.deepEqual(lynex.stats.events.sent, 4);
  await lynex.shutdown();
});

test("a 415 for gzip makes the client send plain JSON", async (t) => {
  const rec = await recorder((r) => (r.headers["content-encoding"] ? { status: 415, body: { error: {} } } : undefined));
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url, { compressMinBytes: 0 });
  lynex.logEvent({ name: "one" });
  await lynex.flush(5000);
  lynex.logEvent({ name: "two" });
  await lynex.flush(5000);
  assert.deepEqual(rec.posts().map((p) => p.headers["content-encoding"] ?? "plain"), ["gzip", "plain", "plain"]);
  assert.deepEqual(errors, []);
  assert.equal(lynex.stats.events.sent, 2);
  await lynex.shutdown();
});

test("the server's per-item rejections are reported, the rest counted as sent", async (t) => {
  const rec = await recorder((r) => ({ body: { accepted: 1, rejected: [{ index: 1, error: "start_time: too old" }] } }));
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url);
  lynex.logEvent({ name: "ok" });
  const old = lynex.logEvent({ name: "old", start_time: 1 });
  await lynex.flush(5000);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].reason, "rejected");
  assert.deepEqual(errors[0].ids, [old]);
  assert.match(errors[0].message, /start_time: too old/);
  assert.deepEqual([lynex.stats.events.sent, lynex.stats.events.rejected], [1, 1]);
  await lynex.shutdown();
});

test("a full queue drops new events, counts them and reports once", async (t) => {
  const rec = await recorder(() => ({ hang: true }));
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url, { maxQueueSize: 5, flushAt: 2, requestTimeoutMs: 60_000 });
  const accepted = [];
  for (let i = 0; i < 12; i++) accepted.push(lynex.logEvent({ name: `e${i}` }));
  assert.equal(accepted.filter(Boolean).length, 5);
  assert.equal(lynex.stats.events.dropped, 7);
  assert.equal(errors.filter((e) => e.reason === "queue_full").length, 1);
  assert.equal(await lynex.shutdown(100), false);
  assert.equal(lynex.stats.events.failed, 5);
  assert.equal(lynex.logEvent({ name: "after shutdown" }), undefined);
  assert.equal(await lynex.flush(2000), true); // nothing is left to wait for
});

test("warns once when the server speaks another API major; silent on 404", async (t) => {
  const warned = [];
  t.mock.method(console, "warn", (msg) => warned.push(msg));
  const v2 = await recorder((r) => (r.url === "/v1/version" ? { status: 200, body: { version: "9.0.0", api: "2" } } : undefined));
  const v1 = await recorder((r) => (r.url === "/v1/version" ? { status: 200, body: { version: "0.1.0", api: "1" } } : undefined));
  const none = await recorder();
  t.after(() => Promise.all([v2.close(), v1.close(), none.close()]));
  for (const rec of [v2, v1, none]) {
    const { lynex } = client(rec.url);
    lynex.logEvent({ name: "a" });
    await lynex.flush(5000);
    lynex.score({ traceId: "t", name: "n", value: 1 });
    lynex.logEvent({ name: "b" });
    if (rec === v2) for (let i = 0; i < 250 && warned.length === 0; i++) await sleep(20); // the check runs beside sends
    await lynex.shutdown(5000);
    assert.equal(rec.requests.filter((r) => r.url === "/v1/version").length, 1);
  }
  assert.equal(warned.length, 1);
  assert.match(warned[0], /speaks API 2, this SDK \(@lynex\/sdk 0\.1\.0\) speaks API 1; hint: upgrade/);
});

test("scores are batched to /scores with client ids", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const { lynex, errors } = client(rec.url);
  const id = lynex.score({ traceId: "t1", name: "quality", value: 0.5, comment: "ok" });
  assert.equal(lynex.score({ name: "orphan", value: 1 }), undefined);
  await lynex.flush(5000);
  const [post] = rec.posts();
  assert.equal(post.url, "/v1/projects/proj%201/scores");
  assert.deepEqual(post.json.scores.map((s) => [s.id, s.trace_id, s.name, s.value, s.comment]), [[id, "t1", "quality", 0.5, "ok"]]);
  assert.match(errors[0].message, /invalid score: trace_id or session_id is required/);
  await lynex.shutdown();
});

test("without CompressionStream the Node build gzips with node:zlib", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const saved = globalThis.CompressionStream;
  delete globalThis.CompressionStream;
  let lynex;
  try {
    ({ lynex } = client(rec.url, { compressMinBytes: 0 }));
  } finally {
    globalThis.CompressionStream = saved;
  }
  const id = lynex.logEvent({ name: "zipped" });
  assert.equal(await lynex.shutdown(5000), true);
  const [post] = rec.posts();
  assert.equal(post.headers["content-encoding"], "gzip");
  assert.deepEqual(ids(rec), [id]); // the recorder gunzipped it
});
