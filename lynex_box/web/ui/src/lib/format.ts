// Number, time and size formatting for tables and tiles. Pure functions: no DOM, no globals.

export function fmtInt(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—'
  return Math.round(n).toLocaleString('en-US')
}

/** Compact counts: 950, 1.2k, 3.4M. */
export function fmtCompact(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—'
  const abs = Math.abs(n)
  if (abs < 1000) return String(Math.round(n))
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'k']]
  for (const [size, suffix] of units) {
    if (abs >= size) {
      const v = n / size
      return `${v >= 100 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, '')}${suffix}`
    }
  }
  return String(n)
}

/** US dollars, the one cost format of every view: `$0` for zero, up to 4 significant decimals below $1
 *  (`$0.0015`, `$0.000123`, `$0.1235`), 2 decimals at or above $1 (`$12.35`, `$12,345.00`), `—` when unknown. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return '—'
  if (usd === 0) return '$0'
  const sign = usd < 0 ? '-' : ''
  const abs = Math.abs(usd)
  const dollars = (v: number) => `${sign}$${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`
  if (abs >= 1) return dollars(abs)
  const decimals = Math.min(100, 3 - Math.floor(Math.log10(abs)))
  const text = abs.toFixed(decimals)
  if (Number(text) >= 1) return dollars(Number(text)) // 0.99996 rounds up to a dollar
  const trimmed = text.replace(/0+$/, '').replace(/\.$/, '')
  return trimmed === '0' ? '$0' : `${sign}$${trimmed}`
}

/** The same function as `formatCost` (older name, kept for the views that import it). */
export const fmtCost = formatCost

/** Durations from milliseconds: 850 µs, 12 ms, 1.25 s, 3m 05s, 2h 10m. */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—'
  if (ms === 0) return '0 ms'
  if (ms < 1) return `${Math.round(ms * 1000)} µs`
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1).replace(/\.0$/, '') : Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  return `${h}h ${String(m % 60).padStart(2, '0')}m`
}

export function fmtPercent(ratio: number | null | undefined, digits = 1): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '—'
  const pct = ratio * 100
  if (pct > 0 && pct < 0.1) return '<0.1%'
  return `${pct.toFixed(digits).replace(/\.0+$/, '')}%`
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

/** Local date-time `2026-11-27 10:00:01` (with `.123` when `ms`). */
export function fmtTime(value: string | number | Date | null | undefined, ms = false): string {
  if (value === null || value === undefined || value === '') return '—'
  const d = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(d.getTime())) return String(value)
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  return ms ? `${base}.${pad(d.getMilliseconds(), 3)}` : base
}

/** "3 min ago" relative to `now` (epoch ms). */
export function fmtAgo(value: string | number | null | undefined, now: number = Date.now()): string {
  if (value === null || value === undefined || value === '') return '—'
  const t = typeof value === 'number' ? value : Date.parse(value)
  if (Number.isNaN(t)) return String(value)
  const s = Math.max(0, Math.round((now - t) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}

/** Epoch microseconds (as stored by the appliance) to a Date. */
export function usToDate(us: number | null | undefined): Date | null {
  return us === null || us === undefined ? null : new Date(us / 1000)
}

export function fmtTokens(input: number | null | undefined, output: number | null | undefined): string {
  if (!input && !output) return '—'
  return `${fmtCompact(input ?? 0)} → ${fmtCompact(output ?? 0)}`
}

/** Shorten an id for display: `abcdef…7890`. */
export function shortId(id: string | null | undefined, keep = 8): string {
  if (!id) return '—'
  return id.length <= keep * 2 + 1 ? id : `${id.slice(0, keep)}…${id.slice(-4)}`
}
