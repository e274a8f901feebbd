import { describe, expect, it } from 'vitest'
import { ancestors, buildTree, descendantCount, parseTimeUs, siblingOrdinal, visibleRows } from './tree'
import type { SpanLike } from './tree'

const t = (ms: number) => new Date(Date.UTC(2026, 10, 27, 10, 0, 0) + ms).toISOString()
const span = (id: string, parent: string | null, start: number, end: number): SpanLike => ({
  span_id: id, parent_span_id: parent, start_time: t(start), end_time: t(end), duration_ms: end - start,
})

describe('span tree', () => {
  it('keeps microseconds that Date.parse would drop', () => {
    expect(parseTimeUs('2026-11-27T10:00:00.123456Z') % 1_000_000).toBe(123456)
    expect(parseTimeUs('2026-11-27T10:00:00Z') % 1_000_000).toBe(0)
    expect(parseTimeUs('2026-11-27T12:00:00.5+02:00')).toBe(parseTimeUs('2026-11-27T10:00:00.500Z'))
  })
  it('orders children by start and lists rows depth first', () => {
    const spans = [span('c2', 'root', 50, 60), span('root', null, 0, 100), span('c1', 'root', 10, 20), span('g', 'c1', 11, 12)]
    const tree = buildTree(spans)
    expect(tree.roots).toEqual([1])
    expect(visibleRows(tree, new Set()).map((i) => spans[i].span_id)).toEqual(['root', 'c1', 'g', 'c2'])
    expect(tree.depth[3]).toBe(2)
    expect(tree.maxUs - tree.minUs).toBe(100_000)
  })
  it('hides the descendants of folded spans', () => {
    const spans = [span('root', null, 0, 100), span('c1', 'root', 10, 20), span('g', 'c1', 11, 12), span('c2', 'root', 50, 60)]
    const tree = buildTree(spans)
    expect(visibleRows(tree, new Set([1])).map((i) => spans[i].span_id)).toEqual(['root', 'c1', 'c2'])
    expect(descendantCount(tree, 0)).toBe(3)
    expect(ancestors(tree, 2)).toEqual([0, 1])
  })
  it('makes orphans and members of a parent cycle roots, without looping', () => {
    const spans = [span('a', 'b', 0, 1), span('b', 'a', 1, 2), span('o', 'missing', 2, 3), span('s', 's', 3, 4)]
    const tree = buildTree(spans)
    const rows = visibleRows(tree, new Set())
    expect(rows.length).toBe(4)
    expect(new Set(rows).size).toBe(4)
  })
  it('handles 30,000 spans and a 10,000-deep chain quickly', () => {
    const wide: SpanLike[] = [span('root', null, 0, 60_000)]
    for (let s = 0; s < 300; s++) {
      wide.push(span(`s${s}`, 'root', s * 200, s * 200 + 190))
      for (let l = 0; l < 99; l++) wide.push(span(`l${s}-${l}`, `s${s}`, s * 200 + l, s * 200 + l + 1))
    }
    let t0 = performance.now()
    const tree = buildTree(wide.slice(0, 30_000))
    expect(visibleRows(tree, new Set()).length).toBe(30_000)
    expect(performance.now() - t0).toBeLessThan(1000)
    const deep: SpanLike[] = Array.from({ length: 10_000 }, (_, i) => span(`d${i}`, i ? `d${i - 1}` : null, i, i + 1))
    t0 = performance.now()
    const dt = buildTree(deep)
    expect(dt.depth[9_999]).toBe(9_999)
    expect(visibleRows(dt, new Set()).length).toBe(10_000)
    expect(ancestors(dt, 9_999).length).toBe(9_999)
  })
  it('numbers siblings that share a name, in start order', () => {
    const spans = [span('root', null, 0, 100), span('b', 'root', 50, 60), span('a', 'root', 10, 20), span('u', 'root', 30, 40)]
    const named = spans.map((s, i) => ({ ...s, name: i === 3 ? 'unique' : i === 0 ? 'root' : 'agent' }))
    const tree = buildTree(spans)
    expect(named.map((_, i) => siblingOrdinal(tree, named, i))).toEqual([0, 2, 1, 0])
  })
})
