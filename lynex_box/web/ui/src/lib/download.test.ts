import { describe, expect, it } from 'vitest'
import { exportQuery, fileNameOf } from './download'

describe('fileNameOf', () => {
  it('reads the quoted and the bare file name', () => {
    expect(fileNameOf('attachment; filename="p-traces.csv"', 'x')).toBe('p-traces.csv')
    expect(fileNameOf('attachment; filename=p.jsonl', 'x')).toBe('p.jsonl')
  })
  it('falls back without a header', () => {
    expect(fileNameOf(null, 'traces.csv')).toBe('traces.csv')
  })
})

describe('exportQuery', () => {
  it('keeps the filters and range, drops paging and empty values, adds the format', () => {
    expect(exportQuery({ from: 10, to: 20, status: 'error', q: '', cursor: 'abc', limit: 100, model: undefined }, 'csv')).toEqual({
      format: 'csv',
      from: 10,
      to: 20,
      status: 'error',
    })
  })
})
