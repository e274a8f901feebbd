// The span columns an OpenTelemetry span's attributes were mapped into, with the attribute keys that feed each one
// (in priority order, as lynex_box/sources/otlp/conventions.py lists them; messages and tool calls have their own
// panels). Mapped attributes are not kept in `attributes` (the column holds the value), so the Attributes panel
// lists them here, marked as mapped. Pure.

const SOURCES: [string, string[]][] = [
  ['kind', ['gen_ai.operation.name', 'openinference.span.kind', 'langfuse.observation.type', 'traceloop.span.kind', 'llm.request.type']],
  ['provider', ['gen_ai.provider.name', 'gen_ai.system', 'llm.provider', 'llm.system']],
  ['model', ['gen_ai.request.model', 'llm.request.model_name', 'llm.model_name', 'langfuse.observation.model.name']],
  ['response_model', ['gen_ai.response.model', 'llm.response.model_name']],
  ['input_tokens', ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt']],
  ['output_tokens', ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion']],
  ['cached_tokens', ['gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens', 'llm.token_count.prompt_details.cache_read']],
  ['reasoning_tokens', ['gen_ai.usage.reasoning.output_tokens', 'gen_ai.usage.reasoning_tokens', 'llm.token_count.completion_details.reasoning']],
  ['total_tokens', ['gen_ai.usage.total_tokens', 'llm.usage.total_tokens', 'llm.token_count.total']],
  ['session_id', ['session.id', 'langfuse.session.id', 'gen_ai.conversation.id']],
  ['user_id', ['user.id', 'langfuse.user.id', 'llm.user', 'enduser.id']],
]

export interface Mapped {
  column: string
  keys: string[]
  value: string
}

function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return ''
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > 120 ? `${text.slice(0, 119)}…` : text
}

/** The mapped columns of an OTLP span that hold a value; none for spans from other sources. */
export function mappedColumns(span: object): Mapped[] {
  const row = span as Record<string, unknown>
  if (row.source !== 'otlp') return []
  const out: Mapped[] = []
  for (const [column, keys] of SOURCES) {
    const value = show(row[column])
    if (value) out.push({ column, keys, value })
  }
  return out
}
