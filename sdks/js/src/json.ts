/**
 * Turns captured values (function arguments, return values, errors) into something JSON.stringify sends
 * without throwing: cycles become "[Circular]", bigints strings, functions and symbols are left out, Errors
 * become {name, message}, Maps and Sets plain objects and lists. Captured values are the app's own objects:
 * this must never throw and never change them.
 */

const MAX_DEPTH = 20;

/** A JSON-safe copy of `value`. */
export function jsonSafe(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "undefined" || typeof value === "function" || typeof value === "symbol") return undefined;
  const obj = value as object;
  if (seen.has(obj)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Too deep]";
  try {
    if (obj instanceof Error) return { name: obj.name, message: obj.message };
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
    if (typeof (obj as { toJSON?: unknown }).toJSON === "function") {
      return jsonSafe((obj as { toJSON: () => unknown }).toJSON(), depth + 1, seen);
    }
    seen.add(obj);
    let out: unknown;
    if (Array.isArray(obj)) out = obj.map((v) => jsonSafe(v, depth + 1, seen) ?? null);
    else if (obj instanceof Map) out = jsonSafe(Object.fromEntries(obj), depth + 1, seen);
    else if (obj instanceof Set) out = jsonSafe([...obj], depth + 1, seen);
    else if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) out = `[${obj.byteLength} bytes]`;
    else {
      const copy: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(obj)) {
        const safe = jsonSafe(v, depth + 1, seen);
        if (safe !== undefined) copy[k] = safe;
      }
      out = copy;
    }
    seen.delete(obj);
    return out;
  } catch {
    return "[Unserializable]";
  }
}

/** `{type, message}` of a thrown value, for an event's `error`. */
export function errorInfo(err: unknown): { type: string; message: string } {
  if (err instanceof Error) return { type: err.constructor?.name || err.name || "Error", message: err.message };
  return { type: typeof err, message: String(err) };
}
