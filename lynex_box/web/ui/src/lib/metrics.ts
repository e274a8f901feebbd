// Shapes of the metrics API and the columns the charts draw from it. Pure.
import { bucketStarts } from './timerange'

export interface Point {
  t: string | null
  /** spans */
  count: number
  /** spans in error */
  errors: number
  /** traces with a span here, and those of them with a span in error */
  traces: number
  trace_errors: number
  /** LLM calls (every generation-like kind, lib/kinds.ts), and those in error */
  llm_calls: number
  llm_errors: number
  avg_hallucination_risk: number | null
  max_hallucination_risk: number | null
  input_tokens: number
  output_tokens: number
  total_cost: number
  p50_ms: number | null
  p95_ms: number | null
  p99_ms: number | null
}
export interface Series {
  group: string
  points: Point[]
}
export interface MetricsResponse {
  series: Series[]
}

export type Field = Exclude<keyof Point, 't'>
/** Fields without a value in an empty bucket (a gap, not a zero). */
const NULLABLE: Field[] = ['p50_ms', 'p95_ms', 'p99_ms', 'avg_hallucination_risk', 'max_hallucination_risk']

/** Aligned columns for uPlot: x (epoch s) then one column per field; empty buckets are 0 (counts) or null (latency). */
export function alignSeries(points: Point[], from: number, to: number, stepMs: number, fields: Field[]): (number | null)[][] {
  const xs = bucketStarts(from, to, stepMs)
  const byT = new Map<number, Point>()
  for (const p of points) if (p.t) byT.set(Date.parse(p.t), p)
  const cols: (number | null)[][] = [xs.map((x) => x / 1000)]
  for (const f of fields) {
    const isLatency = NULLABLE.includes(f)
    cols.push(xs.map((x) => {
      const p = byT.get(x)
      if (!p) return isLatency ? null : 0
      return p[f] ?? (isLatency ? null : 0)
    }))
  }
  return cols
}

/** One point per group (a metrics call without `interval`), largest first by `by`. */
export function totalsByGroup(res: MetricsResponse | null, by: Field = 'total_cost'): (Point & { group: string })[] {
  if (!res) return []
  return res.series
    .map((s) => ({ group: s.group, ...(s.points[0] ?? emptyPoint()) }))
    .sort((a, b) => (Number(b[by]) || 0) - (Number(a[by]) || 0) || b.count - a.count)
}

export function emptyPoint(): Point {
  return {
    t: null, count: 0, errors: 0, traces: 0, trace_errors: 0, llm_calls: 0, llm_errors: 0, input_tokens: 0, output_tokens: 0,
    total_cost: 0, avg_hallucination_risk: null, max_hallucination_risk: null, p50_ms: null, p95_ms: null, p99_ms: null,
  }
}

export function total(res: MetricsResponse | null): Point {
  return res?.series[0]?.points[0] ?? emptyPoint()
}

/** A share, or null when there is nothing to divide by. */
export function rate(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null
}
