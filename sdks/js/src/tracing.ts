/**
 * Spans: a trace is its root span; `span()` and `generation()` make children. A span is sent as one native
 * event when it ends (`event_id` = `span_id`, so a span is stored once however often its batch is retried).
 * Children inherit the trace's user, session, environment and release. `run(fn)` makes the span current for
 * `fn`, so `observe`d functions and wrapped OpenAI calls inside become its children.
 *
 * Nothing here throws at the caller: bad values are reported by `logEvent` like any other bad event.
 */

import type { EventType, LynexEvent } from "./event-types.js";
import { newId } from "./ids.js";
import { errorInfo, jsonSafe } from "./json.js";
import type { ContextStore } from "./runtime/types.js";

/** Where a span sends itself: implemented by the Lynex client. */
export interface SpanSink {
  logEvent(event: LynexEvent): string | undefined;
  score(score: ScoreOptions): string | undefined;
  readonly context: ContextStore<Span>;
  readonly defaults: { environment: string | undefined; release: string | undefined };
}

/** A time: a Date or epoch milliseconds. */
export type TimeInput = Date | number;

export interface SpanOptions {
  name: string;
  /** Span kind; default "span" ("llm" for generation()). */
  type?: EventType;
  input?: unknown;
  output?: unknown;
  metadata?: Record<string, unknown>;
  tags?: string[];
  userId?: string;
  sessionId?: string;
  environment?: string;
  release?: string;
  model?: string;
  provider?: string;
  prompt?: { name: string; version?: string | number };
  startTime?: TimeInput;
  /** Parent span: default the current one (inside observe() or span.run()); null starts a new trace. */
  parent?: Span | null;
  /** Ids to use instead of new random ones (e.g. to continue a trace started elsewhere). */
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
}

/** What `update()` and `end()` take. Nested objects (usage, cost, toolCalls) follow the event schema. */
export interface SpanUpdate {
  name?: string;
  input?: unknown;
  output?: unknown;
  /** Merged into the span's metadata. */
  metadata?: Record<string, unknown>;
  tags?: string[];
  model?: string;
  responseModel?: string;
  provider?: string;
  usage?: LynexEvent["usage"];
  cost?: LynexEvent["cost"];
  toolCalls?: LynexEvent["tool_calls"];
  status?: "ok" | "error" | "unset";
  statusMessage?: string;
  /** A thrown value: recorded as the span's error (status "error"). */
  error?: unknown;
  userId?: string;
  sessionId?: string;
  prompt?: { name: string; version?: string | number };
  endTime?: TimeInput;
}

export interface ScoreOptions {
  name: string;
  value: number | boolean | string;
  traceId?: string;
  spanId?: string;
  sessionId?: string;
  /** NUMERIC, BOOLEAN, CATEGORICAL, TEXT or CORRECTION; inferred from the value when absent. */
  dataType?: string;
  comment?: string;
  metadata?: Record<string, unknown>;
  environment?: string;
  /** A score sent again with the same id replaces the first one. Default: a new id. */
  id?: string;
  timestamp?: TimeInput;
}

const clock: () => number =
  typeof performance !== "undefined" && typeof performance.now === "function" && performance.timeOrigin > 0
    ? () => performance.timeOrigin + performance.now()
    : () => Date.now();

/** Epoch milliseconds, to the microsecond. */
export function epochMs(time?: TimeInput): number {
  const ms = time === undefined ? clock() : time instanceof Date ? time.getTime() : time;
  return Math.round(ms * 1000) / 1000;
}

export class Span {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  private readonly event: LynexEvent;
  private done = false;

  constructor(
    private readonly sink: SpanSink,
    opts: SpanOptions,
    parent: Span | undefined,
  ) {
    const inherited = parent?.event;
    this.traceId = opts.traceId ?? parent?.traceId ?? newId();
    this.spanId = opts.spanId ?? newId();
    this.parentSpanId = opts.parentSpanId ?? parent?.spanId;
    this.event = {
      event_id: this.spanId,
      trace_id: this.traceId,
      span_id: this.spanId,
      parent_span_id: this.parentSpanId,
      name: opts.name,
      type: opts.type ?? "span",
      start_time: epochMs(opts.startTime),
      input: jsonSafe(opts.input) as LynexEvent["input"],
      output: jsonSafe(opts.output) as LynexEvent["output"],
      model: opts.model,
      provider: opts.provider,
      prompt: opts.prompt,
      metadata: opts.metadata === undefined ? undefined : (jsonSafe(opts.metadata) as Record<string, unknown>),
      tags: opts.tags,
      user_id: opts.userId ?? inherited?.user_id,
      session_id: opts.sessionId ?? inherited?.session_id,
      environment: opts.environment ?? inherited?.environment ?? sink.defaults.environment,
      release: opts.release ?? inherited?.release ?? sink.defaults.release,
    };
  }

  /** True once `end()` was called. */
  get ended(): boolean {
    return this.done;
  }

  /** Sets fields before the span ends; returns the span. */
  update(u: SpanUpdate): this {
    const e = this.event;
    if (u.name !== undefined) e.name = u.name;
    if (u.input !== undefined) e.input = jsonSafe(u.input) as LynexEvent["input"];
    if (u.output !== undefined) e.output = jsonSafe(u.output) as LynexEvent["output"];
    if (u.metadata !== undefined) e.metadata = { ...e.metadata, ...(jsonSafe(u.metadata) as Record<string, unknown>) };
    if (u.tags !== undefined) e.tags = u.tags;
    if (u.model !== undefined) e.model = u.model;
    if (u.responseModel !== undefined) e.response_model = u.responseModel;
    if (u.provider !== undefined) e.provider = u.provider;
    if (u.usage !== undefined) e.usage = u.usage;
    if (u.cost !== undefined) e.cost = u.cost;
    if (u.toolCalls !== undefined) e.tool_calls = jsonSafe(u.toolCalls) as LynexEvent["tool_calls"];
    if (u.userId !== undefined) e.user_id = u.userId;
    if (u.sessionId !== undefined) e.session_id = u.sessionId;
    if (u.prompt !== undefined) e.prompt = u.prompt;
    if (u.error !== undefined) {
      e.error = errorInfo(u.error);
      e.status = "error";
      e.status_message = e.error.message;
    }
    if (u.status !== undefined) e.status = u.status;
    if (u.statusMessage !== undefined) e.status_message = u.statusMessage;
    return this;
  }

  /** Ends the span and queues its event; later calls do nothing. Returns the event id, or undefined. */
  end(u: SpanUpdate = {}): string | undefined {
    if (this.done) return undefined;
    this.done = true;
    this.update(u);
    this.event.end_time = epochMs(u.endTime);
    return this.sink.logEvent(this.event);
  }

  /** A child span. */
  span(opts: SpanOptions): Span {
    return new Span(this.sink, opts, this);
  }

  /** A child LLM call (type "llm"). */
  generation(opts: SpanOptions): Span {
    return new Span(this.sink, { type: "llm", ...opts }, this);
  }

  /** A score of this span (its trace and span ids filled in). */
  score(opts: Omit<ScoreOptions, "traceId" | "spanId">): string | undefined {
    return this.sink.score({ ...opts, traceId: this.traceId, spanId: this.spanId });
  }

  /** Runs `fn` with this span current: spans made inside (observe, wrapped clients) become its children. */
  run<R>(fn: () => R): R {
    return this.sink.context.run(this, fn);
  }
}
