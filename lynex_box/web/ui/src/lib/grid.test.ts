import { describe, expect, it } from 'vitest'
import { gridMinWidth } from './grid'

describe('gridMinWidth', () => {
  it('adds fixed widths, minmax minimums, gaps and padding', () => {
    expect(gridMinWidth(['160px', 'minmax(80px, 1fr)', '70px'])).toBe(24 + 2 * 10 + 160 + 80 + 70)
    expect(gridMinWidth([])).toBe(24)
  })
})
