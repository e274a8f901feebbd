// A server answering 503 (and dropping connections, and losing an acknowledgement) then recovering: every
// event arrives exactly once. The proxy sits in front of the real server; the query API is the judge.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Lynex } from "@lynex/sdk";

import { faultyProxy, needsServer, report, server, spansOf } from "./helpers.mjs";

test("503s, resets and a lost acknowledgement lose and duplicate nothing", needsServer, async (t) => {
  // Batches of 25: the first is answered 503 twice, then stored but its answer lost (the client must resend
  // it, and the server must store it once), the next one meets a reset connection, then everything passes.
  const proxy = await faultyProxy(server.baseUrl, ["503", "503", "lost-ack", "reset", "503"]);
  t.after(() => proxy.close());
  const errors = [];
  const lynex = new Lynex({
    ...server,
    baseUrl: proxy.url,
    flushAt: 25,
    retryBaseMs: 20,
    retryMaxMs: 200,
    compressMinBytes: 0,
    onError: (e) => errors.push(e),
  });
  const traceId = `js-outage-${Date.now()}`;
  const sent = [];
  for (let i = 0; i < 100; i++) {
    sent.push(lynex.logEvent({ trace_id: traceId, span_id: `${traceId}-${i}`, name: `step-${i}`, start_time: Date.now() }));
  }
  assert.equal(await lynex.shutdown(30_000), true);
  assert.deepEqual(errors, []);
  assert.deepEqual(proxy.log.filter((l) => l.url.endsWith("/events")).map((l) => l.fault).slice(0, 6), [
    "503",
    "503",
    "lost-ack",
    "reset",
    "503",
    "forward",
  ]);
  const stats = lynex.stats.events;
  assert.equal(stats.retries, 5);
  assert.deepEqual([stats.sent, stats.failed, stats.dropped, stats.queued], [100, 0, 0, 0]);
  report({ test: "outage", trace_id: traceId, event_ids: sent });

  const spans = await spansOf(traceId, 100);
  const ids = spans.map((s) => s.event_id);
  assert.equal(ids.length, 100, `${ids.length} spans stored for 100 events`);
  assert.deepEqual([...new Set(ids)].sort(), [...sent].sort());
});
