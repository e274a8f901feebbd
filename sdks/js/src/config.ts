/**
 * The client's options, their defaults and the environment fallbacks (LYNEX_API_KEY, LYNEX_BASE_URL,
 * LYNEX_PROJECT, read from `process.env` where the runtime has one). Resolved once, at construction; a missing
 * key or project throws there, with a hint, rather than losing every event later.
 */

import { LynexConfigError, type LynexError } from "./errors.js";

export interface LynexOptions {
  /** An ingest (or admin) API key of the project. Env: LYNEX_API_KEY. */
  apiKey?: string;
  /** The appliance's URL. Env: LYNEX_BASE_URL. Default http://127.0.0.1:4318. */
  baseUrl?: string;
  /** The project the key belongs to. Env: LYNEX_PROJECT. */
  projectId?: string;
  /** Send a batch once this many events are queued (default 100). */
  flushAt?: number;
  /** Send a batch once this many bytes of JSON are queued (default 1 MiB; the server takes up to 20 MiB). */
  flushBytes?: number;
  /** Send what is queued at most this long after the oldest queued event arrived (default 1000 ms). */
  flushIntervalMs?: number;
  /** Events (and, separately, scores) held in memory at most; more are dropped and counted (default 10000). */
  maxQueueSize?: number;
  /** Attempts after the first before a batch is given up (default 10: about 2.5 minutes of backoff). */
  maxRetries?: number;
  /** First backoff step (default 500 ms); it doubles per retry up to `retryMaxMs` (default 30 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Longest Retry-After honoured (default 60 s). */
  maxRetryAfterMs?: number;
  /** One request's time limit (default 30 s); a timed-out request is retried. */
  requestTimeoutMs?: number;
  /** "gzip" (default) or "none". */
  compression?: "gzip" | "none";
  /** Bodies smaller than this are sent uncompressed (default 1024 bytes). */
  compressMinBytes?: number;
  /** Flush on Node's `beforeExit`, waiting at most this long (default 10 s; 0 = no exit flush). */
  exitFlushTimeoutMs?: number;
  /** Spans made by trace/span/generation/observe carry these unless they set their own. */
  environment?: string;
  release?: string;
  /** Called with every error the SDK reports (invalid items, drops, rejections); default: console.warn. */
  onError?: (error: LynexError) => void;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface ResolvedConfig {
  apiKey: string;
  baseUrl: string;
  projectId: string;
  flushAt: number;
  flushBytes: number;
  flushIntervalMs: number;
  maxQueueSize: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxRetryAfterMs: number;
  requestTimeoutMs: number;
  compression: "gzip" | "none";
  compressMinBytes: number;
  exitFlushTimeoutMs: number;
  environment: string | undefined;
  release: string | undefined;
  onError: ((error: LynexError) => void) | undefined;
  fetch: typeof fetch;
}

/** An environment variable where the runtime exposes `process.env` (Node, Bun, Deno, some workers). */
export function envVar(name: string): string | undefined {
  try {
    const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
    return value === "" ? undefined : value;
  } catch {
    return undefined; // Deno without --allow-env throws
  }
}

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new LynexConfigError(`${name} is ${String(value)}`, `give ${name} a number of at least ${min}`);
  }
  return value;
}

export function resolveConfig(opts: LynexOptions): ResolvedConfig {
  const apiKey = opts.apiKey ?? envVar("LYNEX_API_KEY");
  const projectId = opts.projectId ?? envVar("LYNEX_PROJECT");
  const baseUrl = (opts.baseUrl ?? envVar("LYNEX_BASE_URL") ?? "http://127.0.0.1:4318").replace(/\/+$/, "");
  if (!apiKey) throw new LynexConfigError("no API key", "pass apiKey or set LYNEX_API_KEY (an ingest key of the project)");
  if (!projectId) throw new LynexConfigError("no project id", "pass projectId or set LYNEX_PROJECT");
  if (!/^https?:\/\//.test(baseUrl)) {
    throw new LynexConfigError(`baseUrl ${JSON.stringify(baseUrl)} is not an http(s) URL`, "e.g. http://127.0.0.1:4318");
  }
  const fetchFn = opts.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
  if (typeof fetchFn !== "function") {
    throw new LynexConfigError("this runtime has no fetch", "pass the fetch option (Node 18+ has a global fetch)");
  }
  const compression = opts.compression ?? "gzip";
  if (compression !== "gzip" && compression !== "none") {
    throw new LynexConfigError(`compression is ${JSON.stringify(compression)}`, 'use "gzip" or "none"');
  }
  return {
    apiKey,
    projectId,
    baseUrl,
    flushAt: positive("flushAt", opts.flushAt, 100),
    flushBytes: positive("flushBytes", opts.flushBytes, 1 << 20),
    flushIntervalMs: positive("flushIntervalMs", opts.flushIntervalMs, 1000, 0),
    maxQueueSize: positive("maxQueueSize", opts.maxQueueSize, 10_000),
    maxRetries: positive("maxRetries", opts.maxRetries, 10, 0),
    retryBaseMs: positive("retryBaseMs", opts.retryBaseMs, 500, 0),
    retryMaxMs: positive("retryMaxMs", opts.retryMaxMs, 30_000, 0),
    maxRetryAfterMs: positive("maxRetryAfterMs", opts.maxRetryAfterMs, 60_000, 0),
    requestTimeoutMs: positive("requestTimeoutMs", opts.requestTimeoutMs, 30_000),
    compression,
    compressMinBytes: positive("compressMinBytes", opts.compressMinBytes, 1024, 0),
    exitFlushTimeoutMs: positive("exitFlushTimeoutMs", opts.exitFlushTimeoutMs, 10_000, 0),
    environment: opts.environment ?? envVar("LYNEX_ENVIRONMENT"),
    release: opts.release ?? envVar("LYNEX_RELEASE"),
    onError: opts.onError,
    fetch: fetchFn,
  };
}
