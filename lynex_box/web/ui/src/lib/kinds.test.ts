import { describe, expect, it } from 'vitest'
import { carriedParams, readState, writeState } from './filterstate'
import { isLlmCall, kindLabel, LLM_CALL, SPAN_KINDS } from './kinds'

describe('span kinds', () => {
  it('names the LLM-call group in words and every stored kind as it is', () => {
    expect(kindLabel(LLM_CALL)).toBe('LLM calls')
    expect(kindLabel('tool')).toBe('tool')
    expect(SPAN_KINDS.filter(isLlmCall)).toEqual(['llm', 'chat'])
  })
  it('keeps several kinds in the URL state the traces list shares', () => {
    const s = readState(new URLSearchParams('kind=llm_call&kind=tool&model=a&attr=k:eq:v&range=7d'))
    expect(s.multi.kind).toEqual(['llm_call', 'tool'])
    expect(readState(writeState(s))).toEqual(s)
  })
})

describe('moving between the traces list and the span table', () => {
  it('keeps the range and the filters, not the sort or other parameters, and only between those two lists', () => {
    const p = new URLSearchParams('range=7d&model=a&model=b&attr=k:eq:v&sort=cost&order=asc&project=p1')
    expect(carriedParams('/traces', '/spans', p).toString()).toBe('range=7d&model=a&model=b&attr=k%3Aeq%3Av')
    expect(carriedParams('/spans', '/traces', p).toString()).toBe('range=7d&model=a&model=b&attr=k%3Aeq%3Av')
    expect(carriedParams('/traces', '/traces', p).toString()).toBe('')
    expect(carriedParams('/traces', '/sessions', p).toString()).toBe('')
    expect(carriedParams('/', '/spans', p).toString()).toBe('')
  })
})
