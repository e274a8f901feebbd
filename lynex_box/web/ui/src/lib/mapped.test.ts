import { describe, expect, it } from 'vitest'
import { mappedColumns } from './mapped'

describe('mappedColumns', () => {
  it('lists the columns an OTLP span was mapped into, first key first', () => {
    const m = mappedColumns({ source: 'otlp', model: 'gpt-4o', user_id: 'u-1', input_tokens: 12, provider: null })
    expect(m.map((x) => [x.column, x.keys[0], x.value])).toEqual([
      ['model', 'gen_ai.request.model', 'gpt-4o'],
      ['input_tokens', 'gen_ai.usage.input_tokens', '12'],
      ['user_id', 'user.id', 'u-1'],
    ])
  })
  it('lists nothing for native spans', () => {
    expect(mappedColumns({ source: 'native', model: 'gpt-4o' })).toEqual([])
  })
})
