import { describe, expect, it } from 'vitest'
import { readState, writeState } from './filterstate'
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
