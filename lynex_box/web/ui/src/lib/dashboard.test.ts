import { describe, expect, it } from 'vitest'
import { chartQuery, chartTitle, filtersFrom, filtersQuery, metricDef, move, newChartId } from './dashboard'
import type { ChartSpec } from './dashboard'
import { emptyPoint } from './metrics'

const chart = (id: string, over: Partial<ChartSpec> = {}): ChartSpec => ({ id, title: '', metric: 'total_cost', group_by: 'model', chart: 'bar', ...over })

describe('dashboard', () => {
  it('moves a chart up and down, clamped at the ends', () => {
    const cs = [chart('a'), chart('b'), chart('c')]
    expect(move(cs, 2, -1).map((c) => c.id)).toEqual(['a', 'c', 'b'])
    expect(move(cs, 0, 1).map((c) => c.id)).toEqual(['b', 'a', 'c'])
    expect(move(cs, 0, -1)).toBe(cs)
    expect(move(cs, 2, 5)).toBe(cs)
  })

  it('names charts and picks free ids', () => {
    expect(chartTitle(chart('a'))).toBe('Cost by model')
    expect(chartTitle(chart('a', { group_by: null, metric: 'p95_ms' }))).toBe('Latency p95 (LLM calls)')
    expect(chartTitle(chart('a', { title: 'Mine' }))).toBe('Mine')
    expect(newChartId([chart('c5')], 5)).toBe('c6')
  })

  it('asks for LLM-call latency unless the chart compares kinds', () => {
    expect(chartQuery(chart('a'))).toEqual({ group_by: 'model', top: 8, top_by: 'count', latency_kind: 'llm_call' })
    expect(chartQuery(chart('a', { group_by: 'kind' }))).toEqual({ group_by: 'kind', top: 8, top_by: 'count' })
    expect(chartQuery(chart('a', { group_by: null }))).toEqual({ latency_kind: 'llm_call' })
  })

  it('computes rates from a point and leaves them empty without a base', () => {
    const p = { ...emptyPoint(), traces: 25, trace_errors: 3, llm_calls: 0 }
    expect(metricDef('error_rate').value(p)).toBeCloseTo(0.12)
    expect(metricDef('llm_error_rate').value(p)).toBeNull()
  })

  it('keeps the overview filters from the URL, and only those', () => {
    const f = filtersFrom(new URLSearchParams('range=7d&model=gpt-4o&tag=a%20b&environment=&q=x'))
    expect(f).toEqual({ model: 'gpt-4o', tag: 'a b' })
    expect(filtersQuery(f)).toBe('model=gpt-4o&tag=a%20b')
  })
})
