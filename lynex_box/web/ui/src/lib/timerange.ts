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

/** A time range as the URL carries it: a preset (`range=24h`) or absolute bounds in epoch ms (`from`, `to`). */
export type TimeRange = { kind: 'preset'; key: string } | { kind: 'absolute'; from: number; to: number }

export interface Bounds {
  from: number
  to: number
  interval: string
  intervalMs: number
}

const STEPS: [string, number][] = [
  ['1m', MIN], ['5m', 5 * MIN], ['15m', 15 * MIN], ['1h', HOUR], ['2h', 2 * HOUR], ['6h', 6 * HOUR], ['1d', DAY],
]

/** Bounds of an absolute range, with the smallest bucket that keeps a chart under about 200 points. */
export function absoluteBounds(from: number, to: number): Bounds {
  const span = Math.max(1, to - from)
  const [interval, intervalMs] = STEPS.find(([, ms]) => span / ms <= 200) ?? STEPS[STEPS.length - 1]
  return { from, to, interval, intervalMs }
}

export function boundsOf(r: TimeRange, now: number): Bounds {
  return r.kind === 'absolute' ? absoluteBounds(r.from, r.to) : rangeBounds(r.key, now)
}

/** An RFC 3339 time (or epoch ms) from the URL; null when it is neither. */
export function parseInstant(raw: string | null | undefined): number | null {
  if (!raw) return null
  const n = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw)
  return Number.isFinite(n) ? n : null
}

/** The range a URL asks for: `from` and `to` (both, in order) win over `range`; null when it names none. */
export function readRange(params: URLSearchParams): TimeRange | null {
  const from = parseInstant(params.get('from'))
  const to = parseInstant(params.get('to'))
  if (from !== null && to !== null && from < to) return { kind: 'absolute', from, to }
  const key = params.get('range')
  if (key && PRESETS.some((p) => p.key === key)) return { kind: 'preset', key }
  return null
}

/** The URL parameters of a range (the others set to null, so they are removed). */
export function rangeParams(r: TimeRange): Record<string, string | null> {
  if (r.kind === 'preset') return { range: r.key, from: null, to: null }
  return { range: null, from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString() }
}

/** A `<input type="datetime-local">` value (local time, minutes) for epoch ms, and back. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}

export function fromLocalInput(value: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return null
  const ms = new Date(value).getTime() // a date-time without an offset is local time
  return Number.isFinite(ms) ? ms : null
}
