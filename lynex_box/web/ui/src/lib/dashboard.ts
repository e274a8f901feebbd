// The custom dashboard's catalog (metrics, dimensions, chart types: the same allow-lists as the server's
// api/admin/dashboards.py), the value of a metric in a metrics point, the charts' order, and the overview's
// filters kept in the URL. Pure.
import { fmtCompact, fmtCost, fmtDuration, fmtInt, fmtPercent } from './format'
import { LLM_CALL } from './kinds'
import type { Point } from './metrics'
import { rate } from './metrics'

export type MetricKey =
  | 'traces' | 'llm_calls' | 'count' | 'errors' | 'error_rate' | 'llm_error_rate' | 'input_tokens' | 'output_tokens'
  | 'total_cost' | 'p50_ms' | 'p95_ms' | 'p99_ms' | 'avg_hallucination_risk' | 'max_hallucination_risk'

export interface MetricDef {
  key: MetricKey
  label: string
  fmt: (v: number) => string
  /** summed over buckets for a bar per group (counts); otherwise recomputed from the group's total point */
  value: (p: Point) => number | null
  /** the value of a bucket without spans: 0 for sums, null (a gap) for rates, percentiles and averages */
  empty: 0 | null
}

const risk = (v: number) => v.toFixed(2)

export const METRICS: MetricDef[] = [
  { key: 'traces', label: 'Traces', fmt: fmtInt, value: (p) => p.traces, empty: 0 },
  { key: 'llm_calls', label: 'LLM calls', fmt: fmtInt, value: (p) => p.llm_calls, empty: 0 },
  { key: 'count', label: 'Spans', fmt: fmtInt, value: (p) => p.count, empty: 0 },
  { key: 'errors', label: 'Spans in error', fmt: fmtInt, value: (p) => p.errors, empty: 0 },
  { key: 'error_rate', label: 'Error rate (traces)', fmt: (v) => fmtPercent(v), value: (p) => rate(p.trace_errors, p.traces), empty: null },
  { key: 'llm_error_rate', label: 'Error rate (LLM calls)', fmt: (v) => fmtPercent(v), value: (p) => rate(p.llm_errors, p.llm_calls), empty: null },
  { key: 'input_tokens', label: 'Input tokens', fmt: fmtCompact, value: (p) => p.input_tokens, empty: 0 },
  { key: 'output_tokens', label: 'Output tokens', fmt: fmtCompact, value: (p) => p.output_tokens, empty: 0 },
  { key: 'total_cost', label: 'Cost', fmt: fmtCost, value: (p) => p.total_cost, empty: 0 },
  { key: 'p50_ms', label: 'Latency p50 (LLM calls)', fmt: fmtDuration, value: (p) => p.p50_ms, empty: null },
  { key: 'p95_ms', label: 'Latency p95 (LLM calls)', fmt: fmtDuration, value: (p) => p.p95_ms, empty: null },
  { key: 'p99_ms', label: 'Latency p99 (LLM calls)', fmt: fmtDuration, value: (p) => p.p99_ms, empty: null },
  { key: 'avg_hallucination_risk', label: 'Hallucination risk (average)', fmt: risk, value: (p) => p.avg_hallucination_risk, empty: null },
  { key: 'max_hallucination_risk', label: 'Hallucination risk (maximum)', fmt: risk, value: (p) => p.max_hallucination_risk, empty: null },
]

export type DimensionKey =
  | 'model' | 'provider' | 'environment' | 'service' | 'user_id' | 'session_id' | 'prompt_name' | 'kind' | 'status' | 'tag'

export const DIMENSIONS: [DimensionKey, string][] = [
  ['model', 'Model'],
  ['provider', 'Provider'],
  ['environment', 'Environment'],
  ['service', 'Service'],
  ['user_id', 'User'],
  ['session_id', 'Session'],
  ['prompt_name', 'Prompt'],
  ['kind', 'Span kind'],
  ['status', 'Status'],
  ['tag', 'Tag'],
]

export type ChartType = 'line' | 'bar'

export interface ChartSpec {
  id: string
  title: string
  metric: MetricKey
  group_by: DimensionKey | null
  chart: ChartType
}

export interface Dashboard {
  charts: ChartSpec[]
  updated_at: number | null
  updated_by: string | null
}

export function metricDef(key: MetricKey): MetricDef {
  return METRICS.find((m) => m.key === key) ?? METRICS[0]
}

export function dimensionLabel(key: DimensionKey | null): string {
  return key === null ? 'Nothing' : (DIMENSIONS.find((d) => d[0] === key)?.[1] ?? key)
}

/** The chart's title: the one given, or "<metric> by <dimension>". */
export function chartTitle(c: ChartSpec): string {
  if (c.title) return c.title
  const m = metricDef(c.metric).label
  return c.group_by ? `${m} by ${dimensionLabel(c.group_by).toLowerCase()}` : m
}

/** The metrics query of a chart: latency of LLM calls only, unless the chart compares span kinds. */
export function chartQuery(c: ChartSpec): Record<string, string | number> {
  const q: Record<string, string | number> = {}
  if (c.group_by) Object.assign(q, { group_by: c.group_by, top: 8, top_by: 'count' })
  if (c.group_by !== 'kind') q.latency_kind = LLM_CALL
  return q
}

/** A new chart id that is not taken. */
export function newChartId(charts: ChartSpec[], seed: number = Date.now()): string {
  let n = seed % 1_000_000
  while (charts.some((c) => c.id === `c${n}`)) n++
  return `c${n}`
}

/** The charts with the one at `index` moved by `delta` places (clamped); the same array when it cannot move. */
export function move<T>(items: T[], index: number, delta: number): T[] {
  const to = Math.max(0, Math.min(items.length - 1, index + delta))
  if (to === index || index < 0 || index >= items.length) return items
  const out = [...items]
  const [it] = out.splice(index, 1)
  out.splice(to, 0, it)
  return out
}

/** The overview's filters, as kept in the URL query string and sent with every metrics query. */
export const OVERVIEW_FILTERS: [string, string][] = [
  ['environment', 'Environment'],
  ['tag', 'Tag'],
  ['model', 'Model'],
  ['prompt_name', 'Prompt'],
]

export function filtersFrom(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key] of OVERVIEW_FILTERS) {
    const v = params.get(key)
    if (v) out[key] = v
  }
  return out
}

/** The query string of the filters (sorted, empty ones left out), e.g. to carry them to a linked list. */
export function filtersQuery(filters: Record<string, string>): string {
  return Object.keys(filters)
    .sort()
    .filter((k) => filters[k])
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(filters[k])}`)
    .join('&')
}
