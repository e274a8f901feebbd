/**
 * Ids made on the client: event ids are the idempotency key, so they are made once, when an event is queued,
 * and kept across every retry. 128 random bits as 32 hex digits (also valid OpenTelemetry trace ids).
 * Uses Web Crypto where the runtime has it (Node 19+, browsers, Deno, Bun, workers), Math.random elsewhere
 * (Node 18 without the global): uniqueness is what matters here, not secrecy.
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** A new random id: 32 lowercase hex digits. */
export function newId(): string {
  const bytes = new Uint8Array(16);
  const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (typeof crypto?.getRandomValues === "function") {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  let out = "";
  for (const byte of bytes) out += HEX[byte];
  return out;
}
