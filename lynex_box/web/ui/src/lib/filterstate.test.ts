import { describe, expect, it } from 'vitest'
import { apiFilters, clearFilters, parseCond, parseScore, readState, stateKey, toggleValue, writeState } from './filterstate'
import type { FilterState } from './filterstate'
import { absoluteBounds, fromLocalInput, readRange, toLocalInput } from './timerange'
import { queryString } from './api'

const FULL: FilterState = {
  range: { kind: 'absolute', from: Date.UTC(2026, 11, 1, 10, 0, 0, 250), to: Date.UTC(2026, 11, 1, 12, 30) },
  single: { q: 'weather in: Paris', name: 'chat gpt-4o', prompt_name: 'support', prompt_version: '2', min_cost: '0.01', min_hallucination_risk: '0.7' },
  multi: { status: ['ok', 'error'], model: ['gpt-4o', 'claude-3-5-sonnet'], environment: ['prod'], tag: ['a b', 'c&d'] },
  attrs: [{ key: 'gen_ai.system', op: 'eq', value: 'open:ai' }, { key: 'http.route', op: 'exists' }],
  meta: [{ key: 'plan', op: 'ne', value: 'free' }, { key: 'region', op: 'contains', value: 'eu=west' }],
  scores: [{ name: 'accuracy', op: 'gte', value: '0.5' }, { name: 'label', op: 'eq', value: 'good:ish' }],
  rest: [['sort', 'cost'], ['order', 'asc'], ['project', 'p1']],
}

describe('filter state in the URL', () => {
  it('round-trips every kind of filter through the query string', () => {
    const url = writeState(FULL).toString()
    expect(readState(new URLSearchParams(url))).toEqual(FULL)
  })
  it('round-trips a preset range and an empty state', () => {
    const s: FilterState = { ...readState(new URLSearchParams()), range: { kind: 'preset', key: '7d' } }
    expect(readState(writeState(s))).toEqual(s)
    expect(writeState(readState(new URLSearchParams())).toString()).toBe('')
  })
  it('keeps parameters it does not own (sort, order) in place', () => {
    const s = readState(new URLSearchParams('sort=duration&order=desc&model=a&range=1h'))
    expect(s.rest).toEqual([['sort', 'duration'], ['order', 'desc']])
    const again = writeState(toggleValue(s, 'model', 'b'))
    expect(again.get('sort')).toBe('duration')
    expect(again.get('order')).toBe('desc')
    expect(again.getAll('model')).toEqual(['a', 'b'])
  })
  it('drops values the API would refuse instead of sending them', () => {
    const s = readState(new URLSearchParams('status=bogus&min_cost=abc&attr=bad"key:eq:x&attr=k:like:x&meta=k:eq&score=a:gt:high&score=a:between:1'))
    expect(s.multi.status).toBeUndefined()
    expect(s.single.min_cost).toBeUndefined()
    expect(s.attrs).toEqual([])
    expect(s.meta).toEqual([])
    expect(s.scores).toEqual([])
  })
  it('absolute bounds win over a preset; bounds out of order are ignored', () => {
    expect(readRange(new URLSearchParams('range=1h&from=2026-12-01T10:00:00Z&to=2026-12-01T11:00:00Z'))).toEqual({
      kind: 'absolute', from: Date.UTC(2026, 11, 1, 10), to: Date.UTC(2026, 11, 1, 11),
    })
    expect(readRange(new URLSearchParams('range=1h&from=2026-12-01T11:00:00Z&to=2026-12-01T10:00:00Z'))).toEqual({ kind: 'preset', key: '1h' })
    expect(readRange(new URLSearchParams('range=nope'))).toBeNull()
  })
  it('builds the API query with repeated parameters, leaving out one facet on request', () => {
    const q = apiFilters(FULL, 'model')
    expect(q.model).toBeUndefined()
    expect(queryString(apiFilters(FULL))).toContain('model=gpt-4o&model=claude-3-5-sonnet')
    expect(queryString({ attr: ['a:exists'] })).toBe('?attr=a%3Aexists')
  })
  it('toggles facet values and clears filters but not the range', () => {
    let s = toggleValue(FULL, 'status', 'error')
    expect(s.multi.status).toEqual(['ok'])
    s = toggleValue(s, 'status', 'unset')
    expect(s.multi.status).toEqual(['ok', 'unset'])
    const cleared = clearFilters(FULL)
    expect(stateKey(cleared)).toBe('')
    expect(cleared.range).toEqual(FULL.range)
    expect(cleared.rest).toEqual(FULL.rest)
  })
  it('parses conditions as the API does', () => {
    expect(parseCond('a.b:contains:x:y')).toEqual({ key: 'a.b', op: 'contains', value: 'x:y' })
    expect(parseCond('a:exists:ignored')).toEqual({ key: 'a', op: 'exists' })
    expect(parseScore('acc:lt:0.2')).toEqual({ name: 'acc', op: 'lt', value: '0.2' })
  })
})

describe('absolute time ranges', () => {
  it('picks a bucket that keeps charts under 200 points', () => {
    expect(absoluteBounds(0, 3_600_000).interval).toBe('1m')
    expect(absoluteBounds(0, 86_400_000).interval).toBe('15m')
    expect(absoluteBounds(0, 90 * 86_400_000).interval).toBe('1d')
  })
  it('converts datetime-local values both ways', () => {
    const ms = new Date(2026, 11, 7, 9, 5).getTime()
    expect(toLocalInput(ms)).toBe('2026-12-07T09:05')
    expect(fromLocalInput('2026-12-07T09:05')).toBe(ms)
    expect(fromLocalInput('nonsense')).toBeNull()
  })
})
