import { describe, expect, it } from 'vitest'
import { alignSeries, emptyPoint, totalsByGroup } from './metrics'
import { bucketStarts, preset, PRESETS, rangeBounds } from './timerange'
import { queryString } from './api'

describe('time ranges', () => {
  it('offers 1 hour to 90 days and falls back to 24 hours', () => {
    expect(PRESETS[0].key).toBe('1h')
    expect(PRESETS[PRESETS.length - 1].key).toBe('90d')
    expect(preset('nonsense').key).toBe('24h')
  })
  it('ends a range at the next bucket boundary, aligned for the server', () => {
    const now = Date.UTC(2026, 10, 27, 10, 7, 30)
    const b = rangeBounds('1h', now)
    expect(b.to).toBe(Date.UTC(2026, 10, 27, 10, 8))
    expect(b.to - b.from).toBe(3_600_000)
    expect(b.interval).toBe('1m')
    expect(bucketStarts(b.from, b.to, b.intervalMs).length).toBe(60)
  })
})

describe('metrics', () => {
  it('fills empty buckets: zero for counts, null for latency', () => {
    const from = 0
    const to = 3 * 60_000
    const cols = alignSeries(
      [{ ...emptyPoint(), t: new Date(60_000).toISOString(), count: 5, errors: 1, input_tokens: 0, output_tokens: 0, total_cost: 0.5, p50_ms: 10, p95_ms: 20, p99_ms: 30 }],
      from, to, 60_000, ['count', 'p95_ms'],
    )
    expect(cols).toEqual([[0, 60, 120], [0, 5, 0], [null, 20, null]])
  })
  it('ranks groups by a field', () => {
    const point = (count: number, cost: number) => ({ ...emptyPoint(), t: null, count, errors: 0, input_tokens: 0, output_tokens: 0, total_cost: cost, p50_ms: null, p95_ms: null, p99_ms: null })
    const res = { series: [{ group: 'a', points: [point(1, 5)] }, { group: 'b', points: [point(9, 1)] }] }
    expect(totalsByGroup(res).map((g) => g.group)).toEqual(['a', 'b'])
    expect(totalsByGroup(res, 'count').map((g) => g.group)).toEqual(['b', 'a'])
  })
})

describe('query strings', () => {
  it('builds sorted query strings without empty values', () => {
    expect(queryString({ b: 2, a: 'x y', c: '', d: null, e: undefined })).toBe('?a=x%20y&b=2')
    expect(queryString({})).toBe('')
  })
})
