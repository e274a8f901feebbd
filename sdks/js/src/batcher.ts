/**
 * The delivery queue of one kind of item (events or scores): a bounded in-memory queue, batching by count,
 * bytes and age, one request in flight at a time, retries with backoff, and flush waiters.
 *
 * What it must never do: block or throw at the caller (a full queue drops the new item and counts it), resend
 * an item under a new id (the body of a batch is built once from the items' JSON, and a retry sends the same
 * ids, which the server stores once), or settle items out of order (flush waits for a count of settled items,
 * which is only right because batches are taken and settled first in, first out).
 */

import type { Gzip } from "./compress.js";
import { LynexDeliveryError, type LynexError } from "./errors.js";
import { retryDelayMs } from "./retry.js";
import type { Transport } from "./transport.js";

/** One queued item: its id and its JSON, encoded once when it was queued. */
export interface QueueItem {
  id: string;
  json: string;
  bytes: number;
}

/** Counters of one queue since the client started. */
export interface QueueStats {
  /** Waiting in memory now (in flight included). */
  queued: number;
  /** Stored by the server. */
  sent: number;
  /** Refused because the queue was full. */
  dropped: number;
  /** Refused by the server (its `rejected` list). */
  rejected: number;
  /** Given up: out of retries, a non-retryable answer, too large alone, or still queued at shutdown's limit. */
  failed: number;
  /** Requests repeated after a 429, 503, other retryable status or network error. */
  retries: number;
  /** Requests that got an answer the batch was stored with. */
  batches: number;
}

export interface BatcherOptions {
  path: string;
  /** The body's list key: {"events": [...]} or {"scores": [...]}. */
  key: "events" | "scores";
  transport: Transport;
  gzip: Gzip | undefined;
  compressMinBytes: number;
  flushAt: number;
  flushBytes: number;
  flushIntervalMs: number;
  maxQueueSize: number;
  maxRetries: number;
  retry: { baseMs: number; maxMs: number; maxRetryAfterMs: number };
  report: (error: LynexError) => void;
}

const encoder = new TextEncoder();

function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}

/** Resolves after `ms`, or at once when `signal` aborts. The timer is ref'd: a retry keeps Node alive. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

export class Batcher {
  private queue: QueueItem[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private enqueued = 0;
  private settled = 0;
  private waiters: Array<{ target: number; resolve: (done: boolean) => void }> = [];
  private running: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dropping = false;
  private gzip: Gzip | undefined;
  private readonly abort = new AbortController();
  private readonly counters = { sent: 0, dropped: 0, rejected: 0, failed: 0, retries: 0, batches: 0 };

  constructor(private readonly opts: BatcherOptions) {
    this.gzip = opts.gzip;
  }

  get stats(): QueueStats {
    return { queued: this.queue.length + this.inFlight, ...this.counters };
  }

  /** Items queued or in flight. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Queue an item; false (and counted) when the queue is full or closed. */
  enqueue(item: QueueItem): boolean {
    if (this.abort.signal.aborted || this.pending >= this.opts.maxQueueSize) {
      this.counters.dropped++;
      if (!this.dropping) {
        this.dropping = true;
        const why = this.abort.signal.aborted ? "the client is shut down" : `${this.opts.maxQueueSize} ${this.opts.key} are queued`;
        this.opts.report(
          new LynexDeliveryError(
            "queue_full",
            `dropping ${this.opts.key}: ${why} (${this.counters.dropped} dropped so far)`,
            "the server is slow or unreachable; raise maxQueueSize or check the connection (stats count drops)",
            [item.id],
          ),
        );
      }
      return false;
    }
    this.queue.push(item);
    this.queuedBytes += item.bytes;
    this.enqueued++;
    if (this.queue.length >= this.opts.flushAt || this.queuedBytes >= this.opts.flushBytes) {
      this.kick();
    } else if (this.timer === undefined && !this.running) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.opts.flushIntervalMs);
      unref(this.timer); // the age limit alone never keeps a process alive; beforeExit flushes
    }
    return true;
  }

  /** Resolves true once every item queued before the call is settled (stored or given up), false at the limit. */
  flush(timeoutMs?: number): Promise<boolean> {
    const target = this.enqueued;
    if (this.settled >= target) return Promise.resolve(true);
    const done = new Promise<boolean>((resolve) => this.waiters.push({ target, resolve }));
    this.kick();
    if (timeoutMs === undefined) return done;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      unref(timer);
      void done.then((ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
    });
  }

  /** Stop for good: cancel the request in flight and any backoff, give up what is queued; resolves when settled. */
  async close(): Promise<void> {
    if (!this.abort.signal.aborted) this.cancel();
    await this.running;
  }

  private cancel(): void {
    this.abort.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const left = this.queue.splice(0);
    this.queuedBytes = 0;
    if (left.length > 0) this.giveUp(left, undefined, "the client was shut down before they were sent");
    this.settle(left.length); // counts, not positions: with everything given up, every waiter's target is met
  }

  private kick(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.abort.signal.aborted) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.kick(); // queued while the loop was ending
    });
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      const batch = this.take();
      this.inFlight = batch.length;
      try {
        await this.deliver(batch);
      } catch (err) {
        this.giveUp(batch, undefined, `unexpected error ${String(err)}`);
      } finally {
        this.inFlight = 0;
        this.settle(batch.length);
      }
    }
  }

  private take(): QueueItem[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < this.opts.flushAt) {
      const next = (this.queue[count] as QueueItem).bytes;
      if (count > 0 && bytes + next > this.opts.flushBytes) break;
      bytes += next;
      count++;
    }
    this.queuedBytes -= bytes;
    if (this.queue.length === count) this.dropping = false;
    return this.queue.splice(0, count);
  }

  private settle(count: number): void {
    this.settled += count;
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (this.settled >= waiter.target) waiter.resolve(true);
      else still.push(waiter);
    }
    this.waiters = still;
  }

  private async encode(items: QueueItem[]): Promise<{ body: Uint8Array; encoding: "gzip" | undefined }> {
    const body = encoder.encode(`{"${this.opts.key}":[${items.map((i) => i.json).join(",")}]}`);
    if (this.gzip === undefined || body.length < this.opts.compressMinBytes) return { body, encoding: undefined };
    try {
      return { body: await this.gzip(body), encoding: "gzip" };
    } catch {
      return { body, encoding: undefined };
    }
  }

  /** Send `items` until stored or given up; the body (and so every event id) is the same on each attempt. */
  private async deliver(items: QueueItem[]): Promise<void> {
    let { body, encoding } = await this.encode(items);
    for (let attempt = 0; ; ) {
      const out = await this.opts.transport.post(this.opts.path, body, encoding, this.abort.signal);
      if (out.kind === "ok") return this.stored(items, out.body);
      if (out.kind === "too_large") {
        if (items.length === 1) return this.giveUp(items, out.status, `too large for the server (${out.message})`, "too_large");
        const half = Math.ceil(items.length / 2);
        await this.deliver(items.slice(0, half));
        return await this.deliver(items.slice(half));
      }
      if (out.kind === "bad_encoding") {
        this.gzip = undefined; // the server (or a proxy) refuses gzip: send plain JSON from now on
        ({ body, encoding } = await this.encode(items));
        continue;
      }
      if (out.kind === "fail") return this.giveUp(items, out.status, out.message);
      if (this.abort.signal.aborted) return this.giveUp(items, out.status, "the client was shut down during retries");
      if (attempt >= this.opts.maxRetries) {
        return this.giveUp(items, out.status, `no success after ${attempt + 1} attempts, last: ${out.message}`);
      }
      this.counters.retries++;
      await sleep(retryDelayMs(attempt, out.retryAfterMs, this.opts.retry), this.abort.signal);
      attempt++;
    }
  }

  private stored(items: QueueItem[], answer: unknown): void {
    this.counters.batches++;
    const rejected = (answer as { rejected?: Array<{ index?: number; error?: string }> } | undefined)?.rejected;
    const refused = Array.isArray(rejected) ? rejected.filter((r) => typeof r.index === "number") : [];
    this.counters.sent += items.length - refused.length;
    if (refused.length === 0) return;
    this.counters.rejected += refused.length;
    const ids = refused.map((r) => items[r.index as number]?.id ?? `#${r.index}`);
    const reasons = refused.slice(0, 5).map((r) => `${ids[refused.indexOf(r)]}: ${r.error ?? "rejected"}`);
    this.opts.report(
      new LynexDeliveryError(
        "rejected",
        `the server rejected ${refused.length} of ${items.length} ${this.opts.key} (${reasons.join("; ")})`,
        "the rest were stored; fix the rejected ones (the server's limits are in docs/events.md)",
        ids,
        202,
      ),
    );
  }

  private giveUp(items: QueueItem[], status: number | undefined, message: string, reason: "failed" | "too_large" = "failed"): void {
    this.counters.failed += items.length;
    this.opts.report(
      new LynexDeliveryError(
        reason,
        `${items.length} ${this.opts.key} not delivered: ${message}`,
        status === 401 || status === 403
          ? "check apiKey and projectId: the key must be an ingest key of that project"
          : status === 404
            ? "check baseUrl and projectId: the appliance answers POST /v1/projects/{projectId}/events"
            : "they are lost; check the server and the network (stats count failures)",
        items.map((i) => i.id),
        status,
      ),
    );
  }
}
