/**
 * @lynex/sdk: send events, traces and scores to a Lynex Box appliance from Node 18+, Bun, Deno, browsers
 * and edge workers. Start with `new Lynex({ apiKey, baseUrl, projectId })`; see README.md.
 */

export type { QueueStats } from "./batcher.js";
export { Lynex, type LynexStats } from "./client.js";
export type { LynexOptions, ResolvedConfig } from "./config.js";
export {
  type DeliveryFailure,
  LynexConfigError,
  LynexDeliveryError,
  LynexError,
  LynexValidationError,
} from "./errors.js";
export { EVENT_SCHEMA, type EventType, type JsonSchema, type LynexEvent } from "./event-types.js";
export type { ObserveOptions } from "./observe.js";
export { type WrapOpenAIOptions, wrapOpenAI } from "./openai.js";
export { type ScoreOptions, Span, type SpanOptions, type SpanUpdate, type TimeInput } from "./tracing.js";
export { validateEvent } from "./validate.js";
export { API_VERSION, SDK_VERSION } from "./version.js";
