/**
 * The errors the SDK reports. None of them is ever thrown at the application from the delivery path: they go
 * to the `onError` callback (else `console.warn`), because an observability SDK must not break the app it
 * observes. Only a wrong configuration at construction throws (`LynexConfigError`).
 */

/** Base class: every error carries a hint that says what to do. */
export class LynexError extends Error {
  readonly hint: string;

  constructor(message: string, hint: string) {
    super(`${message}; hint: ${hint}`);
    this.name = new.target.name;
    this.hint = hint;
  }
}

/** A missing or wrong option at construction. */
export class LynexConfigError extends LynexError {}

/** An event or score the SDK refused before queueing it (it is never sent). */
export class LynexValidationError extends LynexError {
  readonly problems: string[];
  readonly item: unknown;

  constructor(kind: "event" | "score", problems: string[], item: unknown) {
    super(
      `invalid ${kind}: ${problems.join("; ")}`,
      kind === "event"
        ? "fix the event to match lynex_box/schema/event.schema.json (the LynexEvent type); it was not sent"
        : "a score needs name, value and trace_id (or session_id); it was not sent",
    );
    this.problems = problems;
    this.item = item;
  }
}

/** Why items did not reach the server: dropped (queue full), rejected by the server, or given up on. */
export type DeliveryFailure = "queue_full" | "rejected" | "failed" | "too_large";

/** Items that were accepted by `logEvent`/`score` but are not stored. */
export class LynexDeliveryError extends LynexError {
  readonly reason: DeliveryFailure;
  /** `event_id`s (or score ids) concerned. */
  readonly ids: string[];
  /** The HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;

  constructor(reason: DeliveryFailure, message: string, hint: string, ids: string[], status?: number) {
    super(message, hint);
    this.reason = reason;
    this.ids = ids;
    this.status = status;
  }
}
