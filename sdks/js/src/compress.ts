/**
 * gzip for request bodies: CompressionStream where the runtime has it (Node 18+, browsers, Deno, Bun,
 * workers), else the runtime's fallback (node:zlib), else none (the body goes uncompressed). Never throws:
 * a compression failure sends the body as it is.
 */

export type Gzip = (data: Uint8Array) => Promise<Uint8Array>;

async function gzipWithStream(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The gzip function to use, or undefined when there is none. */
export function pickGzip(fallback: Gzip | undefined): Gzip | undefined {
  return typeof CompressionStream === "function" ? gzipWithStream : fallback;
}
