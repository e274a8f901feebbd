import { describe, expect, it } from 'vitest'
import { barIn, FULL, isZoomed, windowOfDrag, zoomBy } from './zoom'

describe('zoom', () => {
  it('zooms in around the middle and back out to the whole trace', () => {
    const w = zoomBy(FULL, 0.5)
    expect(w).toEqual({ lo: 0.25, hi: 0.75 })
    expect(isZoomed(w)).toBe(true)
    expect(zoomBy(zoomBy(w, 2), 2)).toEqual(FULL)
  })
  it('selects a dragged window of the shown one and ignores a click', () => {
    const w = windowOfDrag({ lo: 0.5, hi: 1 }, 0.8, 0.2)!
    expect(w.lo).toBeCloseTo(0.6)
    expect(w.hi).toBeCloseTo(0.9)
    expect(windowOfDrag(FULL, 0.3, 0.302)).toBeNull()
  })
  it('cuts bars to the window and drops those outside', () => {
    const w = { lo: 0.5, hi: 1 }
    expect(barIn(w, 0.4, 0.75)).toEqual({ left: 0, width: 50 })
    expect(barIn(w, 0.1, 0.2)).toBeNull()
  })
})
