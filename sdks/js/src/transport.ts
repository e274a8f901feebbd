/**
 * One HTTP request to the appliance and what its answer means for the batch: delivered, retry (after how
 * long), too large (split it), compression refused, or failed for good. Knows nothing of queues or batches;
 * never throws (a network error or a timeout is a `retry`).
 */

import { isRetryable, parseRetryAfter } from "./retry.js";

export type Outcome =
  | { kind: "ok"; status: number; body: unknown }
  | { kind: "retry"; status: number | undefined; retryAfterMs: number | undefined; message: string }
  | { kind: "too_large"; status: number; message: string }
  | { kind: "bad_encoding"; status: number; message: string }
  | { kind: "fail"; status: number; message: string };

export interface TransportOptions {
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  requestTimeoutMs: number;
  userAgent: string;
}

async function errorMessage(response: Response): Promise<string> {
  try {
    const text = await response.text();
    try {
      const doc = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (doc.error?.message) return `${doc.error.code ?? response.status}: ${doc.error.message}`;
    } catch {
      // not JSON: the text itself
    }
    return text.slice(0, 300) || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

export class Transport {
  constructor(private readonly opts: TransportOptions) {}

  private headers(extra: Record<string, string>): Record<string, string> {
    // user-agent is a forbidden header in browsers; fetch there ignores it, so it is harmless to set.
    return { authorization: `Bearer ${this.opts.apiKey}`, "user-agent": this.opts.userAgent, ...extra };
  }

  /** A fetch with the request time limit, also ended by `signal` (shutdown). */
  private async request(path: string, init: RequestInit, signal: AbortSignal | undefined, timeoutMs?: number): Promise<Response> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs ?? this.opts.requestTimeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener("abort", onAbort);
    try {
      return await this.opts.fetch(`${this.opts.baseUrl}${path}`, { ...init, signal: controller.signal });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** POST a JSON body (already encoded, maybe gzipped) and classify the answer. */
  async post(path: string, body: Uint8Array, encoding: "gzip" | undefined, signal?: AbortSignal): Promise<Outcome> {
    const headers = this.headers({ "content-type": "application/json" });
    if (encoding) headers["content-encoding"] = encoding;
    let response: Response;
    try {
      response = await this.request(path, { method: "POST", headers, body: body as BodyInit }, signal);
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return { kind: "retry", status: undefined, retryAfterMs: undefined, message: `network error (${message})` };
    }
    const status = response.status;
    if (status >= 200 && status < 300) {
      let parsed: unknown;
      try {
        parsed = await response.json();
      } catch {
        parsed = undefined; // the server stored the batch; an unreadable answer body changes nothing
      }
      return { kind: "ok", status, body: parsed };
    }
    const message = await errorMessage(response);
    if (isRetryable(status)) {
      return { kind: "retry", status, retryAfterMs: parseRetryAfter(response.headers.get("retry-after")), message };
    }
    if (status === 413) return { kind: "too_large", status, message };
    if (status === 415 && encoding) return { kind: "bad_encoding", status, message };
    return { kind: "fail", status, message };
  }

  /** GET a JSON document; undefined on any failure (used for the version check only). */
  async getJson(path: string, signal?: AbortSignal, timeoutMs?: number): Promise<{ status: number; body: unknown } | undefined> {
    try {
      const response = await this.request(path, { method: "GET", headers: this.headers({}) }, signal, timeoutMs);
      let body: unknown;
      try {
        body = await response.json();
      } catch {
        body = undefined;
      }
      return { status: response.status, body };
    } catch {
      return undefined;
    }
  }
}
