// Durations typed and read by people in the project settings: the hot window (seconds) and the retention
// (days). Pure functions, so the settings form can be tested without a browser.

/** Unit names accepted after a number, mapped to seconds. The CLI's `set-hot-window` takes s, m, h, d. */
const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86_400,
  day: 86_400,
  days: 86_400,
  w: 604_800,
  week: 604_800,
  weeks: 604_800,
}

/** The server's bound for hot_window_s (lynex_box/auth/projects.py: 36,500 days). */
export const MAX_HOT_WINDOW_S = 36_500 * 86_400
/** The server's bound for retention_days. */
export const MAX_RETENTION_DAYS = 36_500

export type Parsed = { ok: true; seconds: number } | { ok: false; error: string }

/**
 * Whole seconds from `3600`, `90s`, `15m`, `12h`, `7d`, `2w` or a sum such as `1d 12h` / `1h30m`.
 * A bare number is seconds (as in the API and the CLI); fractions and negative values are refused.
 */
export function parseDuration(text: string): Parsed {
  const s = text.trim().toLowerCase()
  if (s === '') return { ok: false, error: 'enter a duration such as 12h, 7d or 3600 (seconds)' }
  if (/^\d+$/.test(s)) return bounded(Number(s))
  const part = /(\d+)\s*([a-z]+)\s*/y
  let total = 0
  let at = 0
  while (at < s.length) {
    part.lastIndex = at
    const m = part.exec(s)
    if (!m) return { ok: false, error: `cannot read "${text.trim()}": use a number with s, m, h, d or w (e.g. 12h, 1d 12h)` }
    const unit = UNIT_SECONDS[m[2]]
    if (unit === undefined) return { ok: false, error: `unknown unit "${m[2]}": use s, m, h, d or w` }
    total += Number(m[1]) * unit
    at = part.lastIndex
  }
  return bounded(total)
}

function bounded(seconds: number): Parsed {
  if (!Number.isSafeInteger(seconds) || seconds > MAX_HOT_WINDOW_S) {
    return { ok: false, error: `at most ${MAX_RETENTION_DAYS.toLocaleString('en-US')} days` }
  }
  return { ok: true, seconds }
}

const SHORT: [string, number][] = [
  ['d', 86_400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
]

/** The shortest exact form that parseDuration reads back: 43200 → `12h`, 129600 → `1d 12h`, 0 → `0s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return ''
  let rest = Math.floor(seconds)
  const parts: string[] = []
  for (const [unit, size] of SHORT) {
    const n = Math.floor(rest / size)
    if (n > 0) {
      parts.push(`${n}${unit}`)
      rest -= n * size
    }
  }
  return parts.length ? parts.join(' ') : '0s'
}

const LONG: [string, number][] = [
  ['day', 86_400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
]

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`
}

/** Words for a person: 604800 → `7 days`, 5400 → `1 hour 30 minutes`, 0 → `0 seconds`. */
export function describeDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—'
  let rest = Math.floor(seconds)
  const parts: string[] = []
  for (const [word, size] of LONG) {
    const n = Math.floor(rest / size)
    if (n > 0) {
      parts.push(plural(n, word))
      rest -= n * size
    }
  }
  return parts.length ? parts.join(' ') : '0 seconds'
}

/** A retention in days for a person: 0 keeps data forever. */
export function describeRetention(days: number): string {
  return days === 0 ? 'keep forever' : plural(days, 'day')
}

/** Whole days 0..MAX_RETENTION_DAYS from a form field, or an error naming the rule. */
export function parseRetentionDays(text: string): { ok: true; days: number } | { ok: false; error: string } {
  const s = text.trim()
  if (!/^\d+$/.test(s) || Number(s) > MAX_RETENTION_DAYS) {
    return { ok: false, error: `retention must be a whole number of days from 0 to ${MAX_RETENTION_DAYS.toLocaleString('en-US')} (0 = keep forever)` }
  }
  return { ok: true, days: Number(s) }
}

/** A project setting (null = not set) and the server default it falls back to. */
export interface Effective {
  value: number | null
  source: 'project' | 'default'
}

export function effective(override: number | null | undefined, fallback: number | null | undefined): Effective {
  if (typeof override === 'number') return { value: override, source: 'project' }
  return { value: typeof fallback === 'number' ? fallback : null, source: 'default' }
}
