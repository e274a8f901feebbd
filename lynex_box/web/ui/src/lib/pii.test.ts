import { describe, expect, it } from 'vitest'
import { parsePatterns, patternsText } from './pii'

describe('custom PII patterns as text', () => {
  it('reads one name=pattern a line, keeping = inside the pattern', () => {
    expect(parsePatterns('acct=ACCT-[0-9]{6}\n\n emp = E=\\d+ ')).toEqual({
      ok: true,
      patterns: [
        { name: 'acct', pattern: 'ACCT-[0-9]{6}' },
        { name: 'emp', pattern: ' E=\\d+' },
      ],
    })
  })
  it('refuses a line without a name', () => {
    const parsed = parsePatterns('=x')
    expect(parsed.ok).toBe(false)
  })
  it('writes back what it reads', () => {
    const patterns = [{ name: 'a', pattern: 'x=y' }]
    expect(parsePatterns(patternsText(patterns))).toEqual({ ok: true, patterns })
  })
})
