/**
 * What an OpenAI chat completion becomes on a span: pure mappings from the request, the response, or the
 * stream's chunks to the span's fields (model, messages, usage, tool calls, finish reason). Inputs are the
 * caller's objects: read, never changed. Shapes follow docs/messages.md (output `{"messages": [...],
 * "finish_reason"}`, tool calls `{id, name, arguments}`).
 */

import type { LynexEvent } from "./event-types.js";
import type { SpanUpdate } from "./tracing.js";

type Obj = Record<string, unknown>;

interface ToolCall {
  id: string | null;
  name: string;
  arguments: string;
}

interface OutMessage {
  role: string;
  content: string | null;
  tool_calls?: ToolCall[];
  refusal?: string;
}

const asObj = (v: unknown): Obj | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined);
const asStr = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const asInt = (v: unknown): number | undefined => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : undefined);

const OMITTED = "[inline data omitted by @lynex/sdk]";

/** The request's messages with inline data (base64 images, audio, files) left out: the server drops it anyway. */
export function inputMessages(messages: unknown): unknown {
  if (!Array.isArray(messages)) return messages;
  return messages.map((message) => {
    const m = asObj(message);
    if (!m || !Array.isArray(m.content)) return message;
    return { ...m, content: m.content.map(stripInline) };
  });
}

function stripInline(part: unknown): unknown {
  const p = asObj(part);
  if (!p) return part;
  const image = asObj(p.image_url);
  if (image && typeof image.url === "string" && image.url.startsWith("data:")) {
    return { ...p, image_url: { ...image, url: `${image.url.slice(0, image.url.indexOf(",") + 1)}${OMITTED}` } };
  }
  const audio = asObj(p.input_audio);
  if (audio && typeof audio.data === "string") return { ...p, input_audio: { ...audio, data: OMITTED } };
  const file = asObj(p.file);
  if (file && typeof file.file_data === "string") return { ...p, file: { ...file, file_data: OMITTED } };
  return part;
}

/** Request parameters worth keeping (temperature, max_tokens, tool names...), without messages. */
export function requestMetadata(params: Obj): Obj {
  const parameters: Obj = {};
  for (const [key, value] of Object.entries(params)) {
    if (["messages", "model", "stream", "stream_options", "tools"].includes(key) || value === undefined) continue;
    parameters[key] = value;
  }
  const meta: Obj = { parameters };
  if (Array.isArray(params.tools)) {
    meta.tools = params.tools.map((t) => asStr(asObj(asObj(t)?.function)?.name) ?? asStr(asObj(t)?.name) ?? null);
  }
  if (params.stream === true) meta.stream = true;
  return meta;
}

export function usageOf(raw: unknown): LynexEvent["usage"] | undefined {
  const u = asObj(raw);
  if (!u) return undefined;
  const usage = {
    input_tokens: asInt(u.prompt_tokens) ?? asInt(u.input_tokens),
    output_tokens: asInt(u.completion_tokens) ?? asInt(u.output_tokens),
    cached_tokens: asInt(asObj(u.prompt_tokens_details)?.cached_tokens),
    reasoning_tokens: asInt(asObj(u.completion_tokens_details)?.reasoning_tokens),
    total_tokens: asInt(u.total_tokens),
  };
  return Object.values(usage).some((v) => v !== undefined) ? usage : undefined;
}

function toolCallOf(raw: unknown): ToolCall | undefined {
  const c = asObj(raw);
  if (!c) return undefined;
  const fn = asObj(c.function) ?? asObj(c.custom);
  const args = fn?.arguments ?? fn?.input;
  return {
    id: asStr(c.id) ?? null,
    name: asStr(fn?.name) ?? "",
    arguments: typeof args === "string" ? args : JSON.stringify(args ?? null),
  };
}

function outMessage(raw: unknown): OutMessage {
  const m = asObj(raw) ?? {};
  const out: OutMessage = { role: asStr(m.role) ?? "assistant", content: asStr(m.content) ?? null };
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls.map(toolCallOf).filter((c): c is ToolCall => c !== undefined) : [];
  if (calls.length > 0) out.tool_calls = calls;
  if (typeof m.refusal === "string") out.refusal = m.refusal;
  return out;
}

function finish(messages: OutMessage[], reasons: Array<string | null>, usage: LynexEvent["usage"] | undefined, model: unknown): SpanUpdate {
  const toolCalls = messages.flatMap((m) => m.tool_calls ?? []);
  const update: SpanUpdate = {
    output: { messages, finish_reason: reasons[0] ?? null },
  };
  if (toolCalls.length > 0) update.toolCalls = toolCalls;
  if (usage) update.usage = usage;
  const responseModel = asStr(model);
  if (responseModel) update.responseModel = responseModel;
  return update;
}

/** The span update for a complete (non-streamed) chat completion. */
export function completionUpdate(response: unknown): SpanUpdate {
  const r = asObj(response) ?? {};
  const choices = (Array.isArray(r.choices) ? r.choices : []).map((c) => asObj(c) ?? {});
  choices.sort((a, b) => (asInt(a.index) ?? 0) - (asInt(b.index) ?? 0));
  return finish(
    choices.map((c) => outMessage(c.message)),
    choices.map((c) => asStr(c.finish_reason) ?? null),
    usageOf(r.usage),
    r.model,
  );
}

interface ChoiceState {
  role: string;
  content: string;
  hasContent: boolean;
  refusal: string;
  finishReason: string | null;
  calls: Map<number, { id: string | null; name: string; arguments: string }>;
}

/** Folds streamed chat.completion.chunk objects into the same update a complete response gives. */
export class StreamAccumulator {
  private readonly choices = new Map<number, ChoiceState>();
  private usage: LynexEvent["usage"] | undefined;
  private model: unknown;
  /** Milliseconds from the request to the first chunk with content, when there was one. */
  firstTokenAt: number | undefined;

  add(chunk: unknown, now: number): void {
    const c = asObj(chunk);
    if (!c) return;
    if (c.model !== undefined) this.model = c.model;
    this.usage = usageOf(c.usage) ?? this.usage;
    for (const rawChoice of Array.isArray(c.choices) ? c.choices : []) {
      const choice = asObj(rawChoice) ?? {};
      const index = asInt(choice.index) ?? 0;
      let state = this.choices.get(index);
      if (!state) {
        state = { role: "assistant", content: "", hasContent: false, refusal: "", finishReason: null, calls: new Map() };
        this.choices.set(index, state);
      }
      const delta = asObj(choice.delta) ?? {};
      if (typeof delta.role === "string") state.role = delta.role;
      if (typeof delta.content === "string") {
        state.content += delta.content;
        state.hasContent = true;
        this.firstTokenAt ??= now;
      }
      if (typeof delta.refusal === "string") state.refusal += delta.refusal;
      for (const rawCall of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
        const call = asObj(rawCall) ?? {};
        const key = asInt(call.index) ?? 0;
        const fn = asObj(call.function) ?? {};
        const acc = state.calls.get(key) ?? { id: null, name: "", arguments: "" };
        if (typeof call.id === "string") acc.id = call.id;
        if (typeof fn.name === "string") acc.name += fn.name;
        if (typeof fn.arguments === "string") acc.arguments += fn.arguments;
        state.calls.set(key, acc);
        this.firstTokenAt ??= now;
      }
      if (typeof choice.finish_reason === "string") state.finishReason = choice.finish_reason;
    }
  }

  update(): SpanUpdate {
    const ordered = [...this.choices.entries()].sort(([a], [b]) => a - b).map(([, s]) => s);
    const messages = ordered.map((s) => {
      const m: OutMessage = { role: s.role, content: s.hasContent ? s.content : null };
      const calls = [...s.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
      if (calls.length > 0) m.tool_calls = calls;
      if (s.refusal) m.refusal = s.refusal;
      return m;
    });
    return finish(messages, ordered.map((s) => s.finishReason), this.usage, this.model);
  }
}
