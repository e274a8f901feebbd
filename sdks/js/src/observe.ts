/**
 * `observe(fn)`: a function that runs `fn` inside a new span (a child of the current span, else a new
 * trace), records its arguments as input, its result as output and a thrown error or rejection as the span's
 * error, and returns or throws exactly what `fn` does. The span is current while `fn` runs: with
 * AsyncLocalStorage (Node, Bun, Deno) across its awaits too; elsewhere pass `parent` explicitly.
 */

import type { Span, SpanOptions } from "./tracing.js";

export interface ObserveOptions extends Omit<SpanOptions, "name" | "input" | "output"> {
  /** Span name; default the function's name. */
  name?: string;
  /** Record the arguments as input (default true): one argument as itself, several as a list. */
  captureInput?: boolean;
  /** Record the result as output (default true). */
  captureOutput?: boolean;
}

/** What observe needs from the client: a span that is a child of the current one (or a new trace). */
export interface SpanFactory {
  startSpan(opts: SpanOptions): Span;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { then?: unknown }).then === "function";
}

// `any` here keeps the wrapped function's exact parameter and return types for the caller.
type AnyFunction = (...args: any[]) => any;

export function observe<F extends AnyFunction>(factory: SpanFactory, fn: F, opts: ObserveOptions = {}): F {
  const { captureInput = true, captureOutput = true, name, ...spanOpts } = opts;
  const spanName = name ?? (fn.name || "anonymous");
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const span = factory.startSpan({
      ...spanOpts,
      name: spanName,
      input: captureInput ? (args.length === 1 ? args[0] : args) : undefined,
    });
    let result: unknown;
    try {
      result = span.run(() => fn.apply(this, args));
    } catch (err) {
      span.end({ error: err });
      throw err;
    }
    if (!isThenable(result)) {
      span.end(captureOutput ? { output: result } : {});
      return result;
    }
    return Promise.resolve(result).then(
      (value) => {
        span.end(captureOutput ? { output: value } : {});
        return value;
      },
      (err: unknown) => {
        span.end({ error: err });
        throw err;
      },
    );
  };
  Object.defineProperty(wrapped, "name", { value: fn.name, configurable: true });
  return wrapped as F;
}
