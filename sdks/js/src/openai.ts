/**
 * `wrapOpenAI(client, lynex)`: the same OpenAI client, whose `chat.completions.create` also records each call
 * as an LLM span (model, messages, parameters, usage, tool calls, errors), streamed or not.
 *
 * What the caller gets back is what the client returns, unchanged: the very promise `create` returned (an
 * APIPromise keeps `withResponse()`), the same response object, the same stream object yielding the same
 * chunks. A stream is recorded as it is read (its iterator is wrapped on that object) and its span ends when
 * the stream ends, fails or is left early. The wrapper duck-types the client (works with openai v4 and later
 * and API-compatible clients) and never imports `openai`. A failure inside the recording is swallowed: it
 * must never break the call.
 */

import type { SpanFactory } from "./observe.js";
import { completionUpdate, inputMessages, requestMetadata, StreamAccumulator } from "./openai-record.js";
import { epochMs, type Span, type SpanOptions } from "./tracing.js";

export interface WrapOpenAIOptions {
  /** Span name; default "chat {model}". */
  name?: string;
  /** Parent span of every call; default the current span (observe, span.run), else each call is a new trace. */
  parent?: Span | null;
  /** provider recorded on the spans; default "openai". */
  provider?: string;
  metadata?: Record<string, unknown>;
  tags?: string[];
  userId?: string;
  sessionId?: string;
}

type Obj = Record<string, unknown>;
type Fn = (...args: unknown[]) => unknown;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function";
}

function errorMetadata(err: unknown): Obj | undefined {
  const e = err as { status?: unknown; code?: unknown; type?: unknown } | null;
  if (e === null || typeof e !== "object") return undefined;
  const meta: Obj = {};
  if (typeof e.status === "number") meta.http_status = e.status;
  if (typeof e.code === "string") meta.error_code = e.code;
  if (typeof e.type === "string") meta.error_type = e.type;
  return Object.keys(meta).length > 0 ? meta : undefined;
}

/**
 * A proxy of `target` that answers `overrides[prop](value)` for the named properties and binds methods to the
 * target (so clients with private fields keep working); everything else is the target's own value.
 */
function proxy<T extends object>(target: T, overrides: Record<string, (value: object) => unknown>): T {
  const made = new Map<PropertyKey, { from: unknown; to: unknown }>();
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      const override = typeof prop === "string" ? overrides[prop] : undefined;
      const wrap = override ?? (typeof value === "function" && prop !== "constructor" ? (f: object) => (f as Fn).bind(obj) : undefined);
      if (wrap === undefined || value === null || (typeof value !== "object" && typeof value !== "function")) return value;
      const known = made.get(prop);
      if (known && known.from === value) return known.to;
      const to = wrap(value);
      made.set(prop, { from: value, to });
      return to;
    },
  });
}

function recordStream(stream: unknown, span: Span, startedAt: number): void {
  const acc = new StreamAccumulator();
  const finish = (err?: unknown): void => {
    if (span.ended) return;
    const update = acc.update();
    if (acc.firstTokenAt !== undefined) update.metadata = { time_to_first_token_ms: Math.round(acc.firstTokenAt - startedAt) };
    if (err !== undefined) {
      update.error = err;
      update.metadata = { ...update.metadata, ...errorMetadata(err) };
    }
    span.end(update);
  };
  const wrapIterator = (it: AsyncIterator<unknown>): AsyncIterator<unknown> & AsyncIterable<unknown> => {
    const wrapped: AsyncIterator<unknown> & AsyncIterable<unknown> = {
      async next(...args: [] | [unknown]) {
        let step: IteratorResult<unknown>;
        try {
          step = await it.next(...args);
        } catch (err) {
          finish(err);
          throw err;
        }
        if (step.done) finish();
        else acc.add(step.value, epochMs());
        return step;
      },
      async return(value?: unknown) {
        finish(); // the caller left the loop early: what was read is the output
        return it.return ? await it.return(value) : { done: true, value };
      },
      async throw(err?: unknown) {
        finish(err);
        if (it.throw) return await it.throw(err);
        throw err;
      },
      [Symbol.asyncIterator]() {
        return wrapped;
      },
    };
    return wrapped;
  };
  const s = stream as { iterator?: unknown; [Symbol.asyncIterator]?: unknown } | null;
  if (s !== null && typeof s === "object" && Object.prototype.hasOwnProperty.call(s, "iterator") && typeof s.iterator === "function") {
    // openai's Stream: `iterator` feeds [Symbol.asyncIterator], tee() and toReadableStream() alike
    const original = s.iterator as () => AsyncIterator<unknown>;
    s.iterator = function (this: unknown) {
      return wrapIterator(original.call(this));
    };
  } else if (s !== null && typeof s === "object" && typeof s[Symbol.asyncIterator] === "function") {
    const original = s[Symbol.asyncIterator] as () => AsyncIterator<unknown>;
    Object.defineProperty(s, Symbol.asyncIterator, {
      configurable: true,
      writable: true,
      value(this: unknown) {
        return wrapIterator(original.call(this));
      },
    });
  } else {
    finish();
  }
}

function wrapCreate(create: Fn, completions: object, lynex: SpanFactory, opts: WrapOpenAIOptions): Fn {
  return function (this: unknown, ...args: unknown[]): unknown {
    const params = (args[0] ?? {}) as Obj;
    let span: Span;
    let startedAt: number;
    try {
      const model = typeof params.model === "string" ? params.model : undefined;
      const spanOpts: SpanOptions = {
        name: opts.name ?? `chat ${model ?? "openai"}`,
        type: "llm",
        model,
        provider: opts.provider ?? "openai",
        input: inputMessages(params.messages),
        metadata: { ...opts.metadata, ...requestMetadata(params) },
        tags: opts.tags,
        userId: opts.userId,
        sessionId: opts.sessionId,
      };
      if (opts.parent !== undefined) spanOpts.parent = opts.parent;
      span = lynex.startSpan(spanOpts);
      startedAt = epochMs();
    } catch {
      return create.apply(completions, args);
    }
    let result: unknown;
    try {
      result = create.apply(completions, args);
    } catch (err) {
      span.end({ error: err, metadata: errorMetadata(err) });
      throw err;
    }
    const onValue = (value: unknown): void => {
      try {
        if (params.stream === true) recordStream(value, span, startedAt);
        else span.end(completionUpdate(value));
      } catch {
        span.end();
      }
    };
    if (!isThenable(result)) {
      onValue(result);
      return result;
    }
    // Registered before the caller can await: a stream is instrumented before the caller reads it.
    result.then(onValue, (err: unknown) => {
      span.end({ error: err, metadata: errorMetadata(err) });
    });
    return result;
  };
}

/** The OpenAI client `client`, recording its chat completions to `lynex` (a Lynex client). */
export function wrapOpenAI<T extends object>(client: T, lynex: SpanFactory, options: WrapOpenAIOptions = {}): T {
  return proxy(client, {
    chat: (chat) =>
      proxy(chat, {
        completions: (completions) =>
          proxy(completions, {
            create: (create) => wrapCreate(create as Fn, completions, lynex, options),
          }),
      }),
  });
}
