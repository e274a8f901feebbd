/**
 * The runtime of browsers, edge workers and anything else with `fetch`: no node: imports. Context follows
 * async continuations only where the platform exposes AsyncLocalStorage as a global (Vercel's edge runtime);
 * elsewhere it is the synchronous store (pass parents explicitly after an `await`). No process exit hook:
 * serverless code awaits `lynex.flush()` or hands it to `waitUntil`.
 */

import { SyncContextStore } from "./sync-store.js";
import type { ContextStore, Runtime } from "./types.js";

type StoreClass = new <T>() => ContextStore<T>;
const GlobalALS = (globalThis as { AsyncLocalStorage?: StoreClass }).AsyncLocalStorage;

export const runtime: Runtime = {
  name: "web",
  asyncContext: typeof GlobalALS === "function",
  createContextStore<T>(): ContextStore<T> {
    return typeof GlobalALS === "function" ? new GlobalALS<T>() : new SyncContextStore<T>();
  },
  gzipFallback: undefined,
  onBeforeExit(): () => void {
    return () => {};
  },
};
