// The least width of a grid table's rows, from its column widths ("160px", "minmax(80px, 1fr)"), so a table
// with more columns than its box fits scrolls sideways (header and rows together) instead of squeezing. Pure.

export const GRID_GAP = 10
export const GRID_PAD = 24

export function gridMinWidth(widths: string[], gap = GRID_GAP, pad = GRID_PAD): number {
  let total = pad + gap * Math.max(0, widths.length - 1)
  for (const w of widths) {
    const m = /(\d+(?:\.\d+)?)px/.exec(w)
    total += m ? Number(m[1]) : 0
  }
  return total
}
