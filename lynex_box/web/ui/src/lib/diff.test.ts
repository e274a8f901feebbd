import { describe, expect, it } from 'vitest'
import { diffSeq, diffStats, sideBySide, splitLines, wordDiff } from './diff'

function apply<T>(a: T[], b: T[]): T[] {
  // rebuild b from the edit script: equal and insert ops in order
  return diffSeq(a, b)
    .filter((op) => op.type !== 'delete')
    .map((op) => b[op.b])
}

describe('diffSeq', () => {
  it('finds a minimal script', () => {
    const ops = diffSeq('ABCABBA'.split(''), 'CBABAC'.split(''))
    expect(ops.filter((o) => o.type !== 'equal').length).toBe(5) // Myers' example: D = 5
  })
  it('rebuilds the new sequence and keeps the old one in order', () => {
    const cases: [string, string][] = [
      ['', ''],
      ['abc', ''],
      ['', 'abc'],
      ['abc', 'abc'],
      ['abcdef', 'abxdyf'],
      ['kitten', 'sitting'],
      ['aaaa', 'aa'],
    ]
    for (const [x, y] of cases) {
      const a = x.split('')
      const b = y.split('')
      expect(apply(a, b).join('')).toBe(y)
      const kept = diffSeq(a, b).filter((o) => o.type !== 'insert').map((o) => a[o.a])
      expect(kept.join('')).toBe(x)
    }
  })
})

describe('sideBySide', () => {
  const v1 = 'You are a support agent for Acme.\nAnswer briefly.\nAlways be polite.\nUse the weather tool for weather.'
  const v2 = 'You are a support agent for Acme Corp.\nAnswer briefly.\nUse the weather tool for weather.\nCite sources.'
  it('pairs changed lines, and shows removed and added lines against a gap', () => {
    const rows = sideBySide(v1, v2)
    expect(rows.map((r) => r.kind)).toEqual(['change', 'equal', 'delete', 'equal', 'insert'])
    expect(rows[2].left?.text).toBe('Always be polite.')
    expect(rows[2].right).toBeNull()
    expect(rows[4].right).toEqual({ line: 4, text: 'Cite sources.' })
    expect(diffStats(rows)).toEqual({ added: 1, removed: 1, changed: 1 })
  })
  it('marks the changed words inside a changed line', () => {
    const [left, right] = wordDiff('for Acme.', 'for Acme Corp.')
    expect(left.filter((s) => s.changed)).toEqual([])
    expect(right.filter((s) => s.changed).map((s) => s.text).join('')).toBe(' Corp')
    expect(right.map((s) => s.text).join('')).toBe('for Acme Corp.')
  })
  it('numbers lines on each side and handles CRLF and empty texts', () => {
    expect(splitLines('a\r\nb')).toEqual(['a', 'b'])
    expect(sideBySide('', '')).toEqual([])
    expect(sideBySide('', 'x')).toEqual([{ kind: 'insert', left: null, right: { line: 1, text: 'x' } }])
  })
  it('stays fast on large prompts', () => {
    const a = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n')
    const b = a.replace('line 2500', 'line 2500 changed')
    const t = performance.now()
    const rows = sideBySide(a, b)
    expect(performance.now() - t).toBeLessThan(500)
    expect(diffStats(rows)).toEqual({ added: 0, removed: 0, changed: 1 })
  })
})
