/**
 * The Lynex client: `logEvent` validates an event and queues it; a batcher delivers the queue to
 * `POST /v1/projects/{project}/events` (batches by count, bytes and age, gzip, retries with backoff on 429,
 * 503 and network errors, honouring Retry-After; the same event ids on every retry). Scores go the same way to
 * `/scores`. Tracing (trace, span, generation, observe) builds events on top of `logEvent`.
 *
 * It never throws at the app after construction and never blocks it: invalid items and lost ones are reported
 * to `onError` (else console.warn) and counted in `stats`. Events live in memory until delivered, so a process
 * must `await flush()` before it ends; on Node the client also flushes on `beforeExit`.
 */

import { Batcher, type QueueStats } from "./batcher.js";
import { pickGzip } from "./compress.js";
import { type LynexOptions, type ResolvedConfig, resolveConfig } from "./config.js";
import { LynexValidationError, type LynexError } from "./errors.js";
import type { LynexEvent } from "./event-types.js";
import { newId } from "./ids.js";
import { jsonSafe } from "./json.js";
import { type ObserveOptions, observe } from "./observe.js";
import { runtime } from "./runtime/current.js";
import type { ContextStore } from "./runtime/types.js";
import { epochMs, type ScoreOptions, Span, type SpanOptions, type SpanSink } from "./tracing.js";
import { Transport } from "./transport.js";
import { validateEvent } from "./validate.js";
import { checkServerVersion, SDK_VERSION } from "./version.js";

const encoder = new TextEncoder();

function byteLength(text: string): number {
  // Exact for ASCII, an upper bound otherwise: enough for batch sizing without encoding every event twice.
  return text.length <= 4096 ? encoder.encode(text).length : text.length * 3;
}

export interface LynexStats {
  events: QueueStats;
  scores: QueueStats;
  /** Events and scores refused by validation before queueing (never sent). */
  invalid: number;
}

export class Lynex implements SpanSink {
  readonly config: ResolvedConfig;
  readonly context: ContextStore<Span>;
  readonly defaults: { environment: string | undefined; release: string | undefined };
  private readonly transport: Transport;
  private readonly events: Batcher;
  private readonly scores: Batcher;
  private invalid = 0;
  private closed = false;
  private versionCheck: Promise<void> | undefined;
  private readonly stopVersionCheck = new AbortController();
  private readonly unhookExit: () => void;

  constructor(options: LynexOptions = {}) {
    this.config = resolveConfig(options);
    const c = this.config;
    this.context = runtime.createContextStore<Span>();
    this.defaults = { environment: c.environment, release: c.release };
    this.transport = new Transport({
      baseUrl: c.baseUrl,
      apiKey: c.apiKey,
      fetch: c.fetch,
      requestTimeoutMs: c.requestTimeoutMs,
      userAgent: `lynex-sdk-js/${SDK_VERSION} (${runtime.name})`,
    });
    const gzip = c.compression === "gzip" ? pickGzip(runtime.gzipFallback) : undefined;
    const project = encodeURIComponent(c.projectId);
    const common = {
      transport: this.transport,
      gzip,
      compressMinBytes: c.compressMinBytes,
      flushAt: c.flushAt,
      flushBytes: c.flushBytes,
      flushIntervalMs: c.flushIntervalMs,
      maxQueueSize: c.maxQueueSize,
      maxRetries: c.maxRetries,
      retry: { baseMs: c.retryBaseMs, maxMs: c.retryMaxMs, maxRetryAfterMs: c.maxRetryAfterMs },
      report: (error: LynexError) => this.report(error),
    };
    this.events = new Batcher({ ...common, path: `/v1/projects/${project}/events`, key: "events" });
    this.scores = new Batcher({ ...common, path: `/v1/projects/${project}/scores`, key: "scores" });
    this.unhookExit = c.exitFlushTimeoutMs > 0 ? runtime.onBeforeExit(() => this.flushAtExit()) : () => {};
  }

  /** Counters of both queues (queued, sent, dropped, rejected, failed, retries) and of invalid items. */
  get stats(): LynexStats {
    return { events: this.events.stats, scores: this.scores.stats, invalid: this.invalid };
  }

  /**
   * Validates `event` against the event schema and queues it. Returns its `event_id` (made here when absent,
   * and kept on every retry), or undefined when the event was invalid or could not be queued (reported to
   * onError). The event object is not changed.
   */
  logEvent(event: LynexEvent): string | undefined {
    if (event === null || typeof event !== "object" || Array.isArray(event)) {
      return this.refuse("event", ["event: expected an object"], event);
    }
    const withId: LynexEvent = typeof event.event_id === "string" ? event : { ...event, event_id: newId() };
    const problems = validateEvent(withId);
    if (problems.length > 0) return this.refuse("event", problems, event);
    let json: string;
    try {
      json = JSON.stringify(withId);
    } catch (err) {
      return this.refuse("event", [`event: not serialisable as JSON (${String(err)})`], event);
    }
    const id = withId.event_id as string;
    this.startVersionCheck();
    return this.events.enqueue({ id, json, bytes: byteLength(json) }) ? id : undefined;
  }

  /** Queues a score of a trace, span or session; returns its id (sending it again replaces it), or undefined. */
  score(opts: ScoreOptions): string | undefined {
    const problems: string[] = [];
    if (typeof opts?.name !== "string" || opts.name.trim() === "") problems.push("name: a non-empty string is required");
    const value = opts?.value as unknown;
    if (typeof value !== "number" && typeof value !== "boolean" && typeof value !== "string") {
      problems.push("value: a number, boolean or string is required");
    } else if (typeof value === "number" && !Number.isFinite(value)) {
      problems.push(`value: ${value} is not a finite number`);
    }
    if (!opts?.traceId && !opts?.sessionId) problems.push("trace_id or session_id is required");
    if (problems.length > 0) return this.refuse("score", problems, opts);
    const id = opts.id ?? newId();
    const score = {
      id,
      name: opts.name,
      value: opts.value,
      trace_id: opts.traceId,
      span_id: opts.spanId,
      session_id: opts.sessionId,
      data_type: opts.dataType,
      comment: opts.comment,
      metadata: opts.metadata === undefined ? undefined : jsonSafe(opts.metadata),
      environment: opts.environment ?? this.defaults.environment,
      timestamp: epochMs(opts.timestamp),
    };
    const json = JSON.stringify(score);
    this.startVersionCheck();
    return this.scores.enqueue({ id, json, bytes: byteLength(json) }) ? id : undefined;
  }

  /** The span current here (inside observe() or span.run()), if any. */
  currentSpan(): Span | undefined {
    return this.context.getStore();
  }

  /** Starts a new trace: its root span. End it with `end()`. */
  trace(opts: Omit<SpanOptions, "parent">): Span {
    return new Span(this, opts, undefined);
  }

  /** A span: a child of `opts.parent`, else of the current span, else the root of a new trace. */
  startSpan(opts: SpanOptions): Span {
    const parent = opts.parent === undefined ? this.currentSpan() : (opts.parent ?? undefined);
    return new Span(this, opts, parent);
  }

  /** Alias of startSpan. */
  span(opts: SpanOptions): Span {
    return this.startSpan(opts);
  }

  /** An LLM call span (type "llm"), placed like startSpan. */
  generation(opts: SpanOptions): Span {
    return this.startSpan({ type: "llm", ...opts });
  }

  /** `fn` recorded as a span each time it is called; see ObserveOptions. */
  observe<F extends (...args: never[]) => unknown>(fn: F, opts: ObserveOptions = {}): F {
    return observe(this, fn, opts);
  }

  /**
   * Sends everything queued so far. Resolves true once it is all settled (stored, or given up and reported),
   * false when `timeoutMs` passed first. Serverless handlers await this before returning.
   */
  async flush(timeoutMs?: number): Promise<boolean> {
    const [events, scores] = await Promise.all([this.events.flush(timeoutMs), this.scores.flush(timeoutMs)]);
    return events && scores;
  }

  /**
   * Flushes (at most `timeoutMs`, default 30 s), then stops: what is still queued is given up and reported,
   * later events are dropped. Resolves true when everything was settled in time.
   */
  async shutdown(timeoutMs = 30_000): Promise<boolean> {
    if (this.closed) return true;
    this.closed = true;
    this.unhookExit();
    const done = await this.flush(timeoutMs);
    this.stopVersionCheck.abort();
    await Promise.all([this.events.close(), this.scores.close(), this.versionCheck]);
    return done;
  }

  private flushAtExit(): void {
    if (this.closed || this.events.pending + this.scores.pending === 0) return;
    // The flush's requests and backoff timers keep the process alive until it is done or out of time.
    void this.flush(this.config.exitFlushTimeoutMs).then((done) => {
      if (!done) this.shutdown(0).catch(() => undefined);
    });
  }

  private startVersionCheck(): void {
    if (this.versionCheck !== undefined) return;
    const warn = (message: string): void => console.warn(message);
    this.versionCheck = checkServerVersion(this.transport, this.config.baseUrl, warn, this.stopVersionCheck.signal).catch(
      () => undefined,
    );
  }

  private refuse(kind: "event" | "score", problems: string[], item: unknown): undefined {
    this.invalid++;
    this.report(new LynexValidationError(kind, problems, item));
    return undefined;
  }

  private report(error: LynexError): void {
    const handler = this.config.onError;
    if (handler === undefined) {
      console.warn(`lynex: ${error.message}`);
      return;
    }
    try {
      handler(error);
    } catch {
      // an onError that throws must not break the app either
    }
  }
}
