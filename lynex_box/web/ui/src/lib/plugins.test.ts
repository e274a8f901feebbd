import { describe, expect, it } from 'vitest'
import { parseConfig } from './plugins'

describe('parseConfig', () => {
  it('takes a JSON object, and an empty editor as {}', () => {
    expect(parseConfig('{"url": "https://x", "n": 2}')).toEqual({ ok: true, config: { url: 'https://x', n: 2 } })
    expect(parseConfig('  ')).toEqual({ ok: true, config: {} })
  })
  it('names what is wrong with anything else', () => {
    for (const text of ['[1]', 'null', '"text"', '3']) {
      const r = parseConfig(text)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error).toContain('must be a JSON object')
    }
    const r = parseConfig('{"a": 1')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error).toContain('Not valid JSON')
  })
})
