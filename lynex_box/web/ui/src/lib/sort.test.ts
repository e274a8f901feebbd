import { describe, expect, it } from 'vitest'
import { ariaSort, nextSort, readSort, sortParams, sortQuery } from './sort'

const COLS = ['time', 'name', 'cost']

describe('list sorting', () => {
  it('reads the order from the URL, falling back to newest first', () => {
    expect(readSort(new URLSearchParams('sort=cost&order=asc'), COLS, 'time')).toEqual({ column: 'cost', order: 'asc' })
    expect(readSort(new URLSearchParams('sort=cost'), COLS, 'time')).toEqual({ column: 'cost', order: 'desc' })
    expect(readSort(new URLSearchParams(''), COLS, 'time')).toEqual({ column: 'time', order: 'desc' })
    expect(readSort(new URLSearchParams('sort=bogus&order=asc'), COLS, 'time')).toEqual({ column: 'time', order: 'desc' })
    expect(readSort(new URLSearchParams('order=asc'), COLS, 'time')).toEqual({ column: 'time', order: 'asc' })
  })
  it('flips on a second click and starts text columns A to Z, numbers largest first', () => {
    const cost = nextSort({ column: 'time', order: 'desc' }, 'cost', false)
    expect(cost).toEqual({ column: 'cost', order: 'desc' })
    expect(nextSort(cost, 'cost', false)).toEqual({ column: 'cost', order: 'asc' })
    expect(nextSort(nextSort(cost, 'cost', false), 'cost', false)).toEqual({ column: 'cost', order: 'desc' })
    expect(nextSort(cost, 'name', true)).toEqual({ column: 'name', order: 'asc' })
  })
  it('keeps the default order out of the URL and the API query', () => {
    expect(sortParams({ column: 'time', order: 'desc' }, 'time')).toEqual({ sort: null, order: null })
    expect(sortParams({ column: 'time', order: 'asc' }, 'time')).toEqual({ sort: 'time', order: 'asc' })
    expect(sortQuery({ column: 'cost', order: 'desc' }, 'time')).toEqual({ sort: 'cost', order: 'desc' })
    expect(sortQuery({ column: 'time', order: 'desc' }, 'time')).toEqual({})
  })
  it('sets aria-sort on the sorted column only', () => {
    const s = { column: 'cost', order: 'asc' as const }
    expect(ariaSort(s, 'cost')).toBe('ascending')
    expect(ariaSort({ ...s, order: 'desc' }, 'cost')).toBe('descending')
    expect(ariaSort(s, 'name')).toBe('none')
  })
})
