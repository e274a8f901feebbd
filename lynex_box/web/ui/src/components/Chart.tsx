// A uPlot time-series chart that follows the theme and the width of its box.
import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface SeriesSpec {
  label: string
  color: string
  /** format for the legend and the axis */
  fmt?: (v: number) => string
  bars?: boolean
  dash?: boolean
}

interface Props {
  title: string
  /** x in epoch seconds, then one array per series */
  data: (number | null)[][]
  series: SeriesSpec[]
  height?: number
  yFmt?: (v: number) => string
  testId?: string
  /** drag across the chart to pick a time range: called with [from, to) in epoch ms */
  onSelect?: (from: number, to: number) => void
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888'
}

export function Chart({ title, data, series, height = 180, yFmt, testId, onSelect }: Props) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const select = useRef(onSelect)
  select.current = onSelect
  const specKey = series.map((s) => `${s.label}:${s.color}:${s.bars ? 1 : 0}`).join('|') + (document.documentElement.dataset.theme ?? '')

  useEffect(() => {
    const el = box.current
    if (!el) return
    const axisColor = cssVar('--muted')
    const grid = cssVar('--grid')
    const bars = uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined
    const opts: uPlot.Options = {
      width: el.clientWidth || 400,
      height,
      legend: { show: true, live: true },
      // a drag selects a time range for the whole view (onSelect) instead of zooming this chart alone
      cursor: { points: { size: 6 }, drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [
          (u: uPlot) => {
            const { left, width } = u.select
            if (width < 2 || !select.current) return
            const from = Math.round(u.posToVal(left, 'x') * 1000)
            const to = Math.round(u.posToVal(left + width, 'x') * 1000)
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
            if (to > from) select.current(from, to)
          },
        ],
      },
      scales: { x: { time: true } },
      axes: [
        { stroke: axisColor, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
          stroke: axisColor,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          size: 66,
          values: (_u, vals) => vals.map((v) => (v === null ? '' : yFmt ? yFmt(v) : String(v))),
        },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: s.bars ? `${s.color}99` : `${s.color}22`,
          width: s.bars ? 0 : 1.5,
          dash: s.dash ? [4, 4] : undefined,
          paths: s.bars ? bars : undefined,
          spanGaps: !s.bars,
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : s.fmt ? s.fmt(v) : String(v)),
        })),
      ],
    }
    const u = new uPlot(opts, data as uPlot.AlignedData, el)
    plot.current = u
    const ro = new ResizeObserver(() => u.setSize({ width: el.clientWidth || 400, height }))
    ro.observe(el)
    return () => {
      ro.disconnect()
      u.destroy()
      plot.current = null
    }
    // data is applied below without recreating the chart
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [specKey, height])

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData)
  }, [data])

  return (
    <figure className={`chart${onSelect ? ' zoomable' : ''}`} data-testid={testId} title={onSelect ? 'Drag across the chart to zoom into that time range' : undefined}>
      <figcaption>{title}</figcaption>
      <div ref={box} className="chart-box" />
    </figure>
  )
}
