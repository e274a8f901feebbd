// The package as users get it: ESM and CJS entry points, type declarations for both, and a web build that
// references no node: module and still works where AsyncLocalStorage is missing (explicit parents).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import * as esm from "@lynex/sdk";

import { recorder } from "./helpers.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

test("require() and import give the same API", () => {
  const cjs = require("@lynex/sdk");
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  for (const name of ["Lynex", "wrapOpenAI", "validateEvent", "LynexError", "Span"]) assert.equal(typeof cjs[name], "function", name);
  assert.equal(cjs.SDK_VERSION, JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version);
});

test("the type declarations compile for ESM and CJS users", () => {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(root, "test", "types", "tsconfig.json")], { stdio: "pipe" });
});

test("the web build references no node: module", () => {
  for (const file of ["index.mjs", "index.cjs"]) {
    const text = readFileSync(join(root, "dist", "web", file), "utf8");
    assert.doesNotMatch(text, /["']node:|require\(["'](zlib|async_hooks)/, file);
  }
  assert.match(readFileSync(join(root, "dist", "node", "index.mjs"), "utf8"), /from "node:async_hooks"/);
});

test("the web build: explicit parents and span.run give the tree, gzip via CompressionStream", async (t) => {
  const rec = await recorder();
  t.after(() => rec.close());
  const web = await import(join(root, "dist", "web", "index.mjs"));
  const lynex = new web.Lynex({ apiKey: "k", projectId: "p", baseUrl: rec.url, compressMinBytes: 0 });
  const trace = lynex.trace({ name: "root" });
  const inner = lynex.observe(async () => "x", { name: "inner", parent: trace });
  const viaRun = trace.run(() => lynex.span({ name: "sync-child" })); // current during run's synchronous part
  viaRun.end();
  await inner();
  const orphan = lynex.span({ name: "no-parent" }); // outside run: a new trace, never a wrong parent
  orphan.end();
  trace.end();
  assert.equal(await lynex.shutdown(5000), true);
  const events = rec.posts().flatMap((p) => p.json.events);
  assert.ok(rec.posts().every((p) => p.headers["content-encoding"] === "gzip"));
  const by = Object.fromEntries(events.map((e) => [e.name, e]));
  assert.equal(by.inner.parent_span_id, trace.spanId);
  assert.equal(by["sync-child"].parent_span_id, trace.spanId);
  assert.equal(by["no-parent"].parent_span_id, undefined);
  assert.notEqual(by["no-parent"].trace_id, trace.traceId);
  assert.equal(rec.requests[0].headers["user-agent"], "lynex-sdk-js/0.1.0 (web)");
});
