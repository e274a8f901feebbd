// The waterfall's time window: [lo, hi] as fractions of the trace's duration, zoomed by buttons or a drag. Pure.

export interface TimeWindow {
  lo: number
  hi: number
}

export const FULL: TimeWindow = { lo: 0, hi: 1 }
const MIN_WIDTH = 1e-5

function clamp(w: TimeWindow): TimeWindow {
  let width = Math.min(1, Math.max(MIN_WIDTH, w.hi - w.lo))
  let lo = Math.max(0, Math.min(1 - width, w.lo))
  if (!Number.isFinite(lo) || !Number.isFinite(width)) [lo, width] = [0, 1]
  return { lo, hi: lo + width }
}

/** Zoom by `factor` (< 1 in, > 1 out) around `at`, a fraction of the window (0.5: its middle). */
export function zoomBy(w: TimeWindow, factor: number, at = 0.5): TimeWindow {
  const width = w.hi - w.lo
  const pivot = w.lo + at * width
  const next = Math.min(1, width * factor)
  return clamp({ lo: pivot - at * next, hi: pivot - at * next + next })
}

/** The window a drag from `a` to `b` (fractions of the shown window) selects; null for a click. */
export function windowOfDrag(w: TimeWindow, a: number, b: number): TimeWindow | null {
  const [x0, x1] = [Math.max(0, Math.min(a, b)), Math.min(1, Math.max(a, b))]
  if (x1 - x0 < 0.01) return null
  const width = w.hi - w.lo
  return clamp({ lo: w.lo + x0 * width, hi: w.lo + x1 * width })
}

export function isZoomed(w: TimeWindow): boolean {
  return w.lo > 0 || w.hi < 1
}

/** A bar's left and width in percent of the shown window, cut to it; null when it lies wholly outside. */
export function barIn(w: TimeWindow, start: number, end: number): { left: number; width: number } | null {
  const width = w.hi - w.lo
  if (end < w.lo || start > w.hi) return null
  const a = Math.max(start, w.lo)
  const b = Math.min(end, w.hi)
  return { left: ((a - w.lo) / width) * 100, width: ((b - a) / width) * 100 }
}
