/**
 * When to retry a delivery and how long to wait: pure functions, no I/O. Retried answers are the ones the
 * server documents as "try again later" (429 and 503, both with Retry-After), the timeouts and gateway errors
 * of proxies (408, 502, 504), 500, and network errors. A retry resends the same body, so the same event ids:
 * the server stores an event id once, so a retry never makes a duplicate.
 */

const RETRIED = new Set([408, 429, 500, 502, 503, 504]);

/** True for an HTTP status worth retrying. */
export function isRetryable(status: number): boolean {
  return RETRIED.has(status);
}

/**
 * Exponential backoff with jitter for retry number `attempt` (0 for the first retry): a wait between half and
 * all of `min(maxMs, baseMs * 2^attempt)`, so clients that failed together do not come back together.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + (random() * ceiling) / 2;
}

/** A Retry-After header in milliseconds (delay-seconds or an HTTP date), or undefined when absent or invalid. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}

/**
 * The wait before the next attempt: the server's Retry-After when it gave one (capped at `maxRetryAfterMs`,
 * plus a little jitter), else the backoff; never less than the backoff.
 */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  opts: { baseMs: number; maxMs: number; maxRetryAfterMs: number },
  random: () => number = Math.random,
): number {
  const backoff = backoffMs(attempt, opts.baseMs, opts.maxMs, random);
  if (retryAfterMs === undefined) return backoff;
  const told = Math.min(retryAfterMs, opts.maxRetryAfterMs) + random() * opts.baseMs;
  return Math.max(told, backoff);
}
