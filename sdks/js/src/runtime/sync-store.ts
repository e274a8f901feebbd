/**
 * A context store for runtimes without AsyncLocalStorage: the value is current only during the synchronous
 * part of `run` (up to the function's first `await`). It can lose a parent, never give a wrong one: the stack
 * is popped before any other task runs. Code that needs the parent after an `await` passes it explicitly
 * (`parent:` options, `span.run`).
 */

import type { ContextStore } from "./types.js";

export class SyncContextStore<T> implements ContextStore<T> {
  private readonly stack: T[] = [];

  getStore(): T | undefined {
    return this.stack[this.stack.length - 1];
  }

  run<R>(value: T, fn: () => R): R {
    this.stack.push(value);
    try {
      return fn();
    } finally {
      this.stack.pop();
    }
  }
}
