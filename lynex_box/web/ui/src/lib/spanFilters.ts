// The span table's filter state: one object read from and written to the URL's query string, so the table can move
// to the traces list's filter bar later by swapping this module. Pure (the URL write is `router.setParams`).
import { ALL_FILTERS, filtersKey, readFilters } from './filters'
import type { Filters } from './filters'
import { DEFAULT_RANGE } from './timerange'

/** Every kind a span may be stored with (docs/format/segments.md), plus the LLM-call group first. */
export const SPAN_KINDS: readonly string[] = [
  'llm', 'chat', 'embedding', 'tool', 'agent', 'chain', 'retriever', 'reranker', 'guardrail', 'evaluator', 'event', 'span',
]

export interface SpanFilterState {
  range: string
  filters: Filters
}

export function readSpanFilters(params: URLSearchParams): SpanFilterState {
  return { range: params.get('range') ?? DEFAULT_RANGE, filters: readFilters(params) }
}

/** A stable key of the state (to know when to reload and scroll back to the top). */
export function spanFiltersKey(s: SpanFilterState): string {
  return `${s.range}|${filtersKey(s.filters)}`
}

/** The span list's query parameters for the state over [from, to). */
export function spanQuery(s: SpanFilterState, bounds: { from: number; to: number }): Record<string, string | number> {
  return { from: bounds.from, to: bounds.to, fields: 'summary', ...s.filters } as Record<string, string | number>
}

/** URL changes that apply a submitted filter form: every filter the form holds, empty ones removed. */
export function formChanges(form: FormData): Record<string, string | null> {
  const changes: Record<string, string | null> = {}
  for (const k of ALL_FILTERS) if (form.has(k)) changes[k] = String(form.get(k) ?? '').trim() || null
  return changes
}
