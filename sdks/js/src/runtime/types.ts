/**
 * What the SDK needs from its runtime beyond `fetch`: a context store (which span is current), a gzip
 * fallback for runtimes without CompressionStream, and a hook at process exit. `runtime/node.ts` gives Node's
 * (AsyncLocalStorage, node:zlib, beforeExit); `runtime/web.ts` gives what browsers, Deno, Bun and edge workers
 * have. The build picks one per output (scripts/build.mjs); the rest of the SDK imports `runtime/current.js`.
 */

/** Holds the current span for the code running inside `run` (AsyncLocalStorage's shape). */
export interface ContextStore<T> {
  getStore(): T | undefined;
  run<R>(value: T, fn: () => R): R;
}

export interface Runtime {
  /** "node" or "web": which build this is. */
  readonly name: "node" | "web";
  /** True when the store follows async continuations (AsyncLocalStorage); false: only synchronous calls. */
  readonly asyncContext: boolean;
  createContextStore<T>(): ContextStore<T>;
  /** gzip without CompressionStream, or undefined when the runtime has no way (then bodies go uncompressed). */
  readonly gzipFallback: ((data: Uint8Array) => Promise<Uint8Array>) | undefined;
  /** Calls `fn` when the process is about to exit with an empty event loop; returns the unregister function. */
  onBeforeExit(fn: () => void): () => void;
}
