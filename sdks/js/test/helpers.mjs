// Shared by the tests: the real server's address and key (from the environment the pytest launcher sets,
// tests/sdks/test_js_sdk.py), reads through its query API, and small local HTTP servers (a recorder and a
// fault-injecting proxy) for what only the wire shows.

import { appendFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { gunzipSync } from "node:zlib";

/** The real server, or undefined when the tests run without one (then those tests are skipped). */
export const server = process.env.LYNEX_BASE_URL
  ? { baseUrl: process.env.LYNEX_BASE_URL, apiKey: process.env.LYNEX_API_KEY, projectId: process.env.LYNEX_PROJECT }
  : undefined;

/** For `test(name, needsServer, fn)`. */
export const needsServer = { skip: server ? false : "no server: set LYNEX_BASE_URL, LYNEX_API_KEY, LYNEX_PROJECT" };

/** Records ids for the pytest launcher, which reads them back from the server itself. */
export function report(record) {
  if (process.env.LYNEX_TEST_REPORT) appendFileSync(process.env.LYNEX_TEST_REPORT, `${JSON.stringify(record)}\n`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET a query API path of the project (e.g. `traces/abc`); null on 404. */
export async function query(path) {
  const r = await fetch(`${server.baseUrl}/v1/projects/${server.projectId}/${path}`, {
    headers: { authorization: `Bearer ${server.apiKey}` },
  });
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return await r.json();
}

/** Polls `fn` until it returns a truthy value (or throws the last error after `timeoutMs`). */
export async function eventually(fn, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value;
    let error;
    try {
      value = await fn();
    } catch (err) {
      error = err;
    }
    if (value) return value;
    if (Date.now() > deadline) throw error ?? new Error(`not true after ${timeoutMs} ms: ${fn}`);
    await sleep(50);
  }
}

/** The trace's spans once it has `count` of them (the query API shows them well under a second after the 202). */
export async function spansOf(traceId, count) {
  return await eventually(async () => {
    const trace = await query(`traces/${encodeURIComponent(traceId)}`);
    return trace && trace.spans.length >= count ? trace.spans : undefined;
  });
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  return req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
}

async function listen(handler) {
  const srv = createServer((req, res) => {
    handler(req, res).catch((err) => {
      res.statusCode = 599;
      res.end(String(err));
    });
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    close: () => new Promise((resolve) => {
      srv.closeAllConnections?.();
      srv.close(() => resolve());
    }),
  };
}

/**
 * A local server that records each request ({method, url, headers, raw, json, at}) and answers with
 * `respond(record, index)` → {status, headers, body}; default 202 {"accepted": n, "rejected": []}.
 */
export async function recorder(respond) {
  const requests = [];
  const srv = await listen(async (req, res) => {
    const body = await readBody(req);
    const record = { method: req.method, url: req.url, headers: req.headers, raw: body, at: Date.now() };
    try {
      record.json = JSON.parse(body.toString("utf8") || "null");
    } catch {
      record.json = undefined;
    }
    requests.push(record);
    const answer = (await respond?.(record, requests.length - 1)) ?? {};
    if (answer.hang) return; // never answers
    const items = record.json?.events ?? record.json?.scores ?? [];
    const payload = answer.body ?? { accepted: items.length, rejected: [] };
    res.writeHead(answer.status ?? (req.url === "/v1/version" ? 404 : 202), {
      "content-type": "application/json",
      ...answer.headers,
    });
    res.end(typeof payload === "string" ? payload : JSON.stringify(payload));
  });
  return { ...srv, requests, posts: () => requests.filter((r) => r.method === "POST") };
}

/**
 * A proxy to `target` that plays `faults` in order, one per POST, then forwards everything:
 *   "503": answers 503 with Retry-After: 0 without forwarding;
 *   "429": answers 429 with Retry-After: 1;
 *   "reset": closes the connection without forwarding (a network error);
 *   "lost-ack": forwards (the server stores the batch) but closes the connection instead of answering.
 */
export async function faultyProxy(target, faults) {
  const plan = [...faults];
  const log = [];
  const { hostname, port } = new URL(target);
  const srv = await listen(async (req, res) => {
    const body = await readBody(req).catch(() => Buffer.alloc(0));
    const fault = req.method === "POST" ? plan.shift() : undefined;
    log.push({ url: req.url, fault: fault ?? "forward" });
    if (fault === "503" || fault === "429") {
      res.writeHead(Number(fault), { "content-type": "application/json", "retry-after": fault === "503" ? "0" : "1" });
      res.end(JSON.stringify({ error: { code: "overloaded", message: "injected by the test proxy" } }));
      return;
    }
    if (fault === "reset") {
      req.socket.destroy();
      return;
    }
    const headers = { ...req.headers, "content-length": String(body.length) };
    delete headers["content-encoding"]; // the body was decompressed by readBody
    const upstream = await new Promise((resolve, reject) => {
      const out = httpRequest({ hostname, port, path: req.url, method: req.method, headers }, resolve);
      out.on("error", reject);
      out.end(body);
    });
    const answer = await readBody(upstream);
    if (fault === "lost-ack") {
      req.socket.destroy();
      return;
    }
    res.writeHead(upstream.statusCode, upstream.headers);
    res.end(answer);
  });
  return { ...srv, log };
}
