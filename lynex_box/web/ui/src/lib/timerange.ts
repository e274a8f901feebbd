// Time range presets of the pickers and the chart bucket width that suits each. Pure.

export interface RangePreset {
  key: string
  label: string
  ms: number
  interval: string
  intervalMs: number
}

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

export const PRESETS: RangePreset[] = [
  { key: '1h', label: 'Last hour', ms: HOUR, interval: '1m', intervalMs: MIN },
  { key: '6h', label: 'Last 6 hours', ms: 6 * HOUR, interval: '5m', intervalMs: 5 * MIN },
  { key: '24h', label: 'Last 24 hours', ms: DAY, interval: '15m', intervalMs: 15 * MIN },
  { key: '7d', label: 'Last 7 days', ms: 7 * DAY, interval: '2h', intervalMs: 2 * HOUR },
  { key: '30d', label: 'Last 30 days', ms: 30 * DAY, interval: '6h', intervalMs: 6 * HOUR },
  { key: '90d', label: 'Last 90 days', ms: 90 * DAY, interval: '1d', intervalMs: DAY },
]

export const DEFAULT_RANGE = '24h'

export function preset(key: string | null | undefined): RangePreset {
  return PRESETS.find((p) => p.key === key) ?? PRESETS.find((p) => p.key === DEFAULT_RANGE)!
}

/** [from, to) in epoch ms for a preset, ending at `now` rounded up to the bucket so queries cache well. */
export function rangeBounds(key: string, now: number): { from: number; to: number; interval: string; intervalMs: number } {
  const p = preset(key)
  const to = Math.ceil((now + 1) / p.intervalMs) * p.intervalMs
  return { from: to - p.ms, to, interval: p.interval, intervalMs: p.intervalMs }
}

/** Bucket starts from `from` to `to`, so empty buckets draw as zero instead of a gap. */
export function bucketStarts(from: number, to: number, step: number): number[] {
  const out: number[] = []
  for (let t = Math.floor(from / step) * step; t < to; t += step) out.push(t)
  return out
}
