/**
 * The Node runtime (also Bun and Deno, which resolve the package's "node" export condition): context through
 * AsyncLocalStorage, gzip through node:zlib when CompressionStream is missing, flush on `beforeExit`.
 * Only the builds in dist/node import this module; dist/web never references a node: module.
 */

import { AsyncLocalStorage } from "node:async_hooks";

import type { ContextStore, Runtime } from "./types.js";

async function gzipWithZlib(data: Uint8Array): Promise<Uint8Array> {
  // A dynamic import, so the module costs nothing until a runtime without CompressionStream needs it.
  const zlib = await import("node:zlib");
  return await new Promise((resolve, reject) => {
    zlib.gzip(data, (err, out) => (err ? reject(err) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.length))));
  });
}

export const runtime: Runtime = {
  name: "node",
  asyncContext: true,
  createContextStore<T>(): ContextStore<T> {
    return new AsyncLocalStorage<T>();
  },
  gzipFallback: gzipWithZlib,
  onBeforeExit(fn: () => void): () => void {
    const proc = (globalThis as { process?: NodeJS.Process }).process;
    if (typeof proc?.on !== "function") return () => {};
    proc.on("beforeExit", fn);
    return () => proc.off("beforeExit", fn);
  },
};
