// Span kinds the UI groups. "An LLM call" is every generation-like kind, as the server defines it
// (lynex_box/schema/span.py LLM_CALL_KINDS; docs/otlp.md): native/Langfuse/OpenInference `llm` and OTel GenAI
// `chat`. The query API takes the group as `kind=llm_call`. Pure.

export const LLM_CALL = 'llm_call'
export const LLM_CALL_KINDS: readonly string[] = ['llm', 'chat']

export function isLlmCall(kind: string | null | undefined): boolean {
  return !!kind && LLM_CALL_KINDS.includes(kind)
}

/** Every kind a span may be stored with (docs/format/segments.md), for the span table's kind filter. */
export const SPAN_KINDS: readonly string[] = [
  'llm', 'chat', 'embedding', 'tool', 'agent', 'chain', 'retriever', 'reranker', 'guardrail', 'evaluator', 'event', 'span',
] // prettier-ignore

/** How a kind filter value reads: the LLM-call group in words, a stored kind as it is. */
export function kindLabel(kind: string): string {
  return kind === LLM_CALL ? 'LLM calls' : kind
}
