// The time range picker of every view: the presets, or a custom absolute range (two date-time fields, local time).
import { useEffect, useState } from 'react'
import type { FormEvent } from 'react'
import { boundsOf, fromLocalInput, PRESETS, toLocalInput } from '../lib/timerange'
import type { TimeRange } from '../lib/timerange'
import { rangeKey } from '../lib/useRange'

export function TimeRangePicker({ value, onChange }: { value: TimeRange; onChange: (r: TimeRange) => void }) {
  const [custom, setCustom] = useState(value.kind === 'absolute')
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const key = rangeKey(value)
  useEffect(() => {
    const b = boundsOf(value, Date.now())
    setCustom(value.kind === 'absolute')
    setFrom(toLocalInput(b.from))
    setTo(toLocalInput(b.to))
    setProblem(null)
  }, [key]) // eslint-disable-line react-hooks/exhaustive-deps

  function apply(e: FormEvent) {
    e.preventDefault()
    const f = fromLocalInput(from)
    const t = fromLocalInput(to)
    if (f === null || t === null) return setProblem('Enter both times.')
    if (t <= f) return setProblem('The end must be after the start.')
    setProblem(null)
    onChange({ kind: 'absolute', from: f, to: t })
  }

  return (
    <span className="range-picker" data-testid="time-range">
      <select
        value={custom ? 'custom' : value.kind === 'preset' ? value.key : 'custom'}
        onChange={(e) => {
          if (e.target.value === 'custom') setCustom(true)
          else onChange({ kind: 'preset', key: e.target.value })
        }}
        aria-label="Time range"
        data-testid="range"
      >
        {PRESETS.map((p) => (
          <option key={p.key} value={p.key}>
            {p.label}
          </option>
        ))}
        <option value="custom">Custom range…</option>
      </select>
      {custom && (
        <form className="range-custom" onSubmit={apply} aria-label="Custom time range">
          <input type="datetime-local" aria-label="From" value={from} onChange={(e) => setFrom(e.target.value)} required />
          <span className="muted small">to</span>
          <input type="datetime-local" aria-label="To" value={to} onChange={(e) => setTo(e.target.value)} required />
          <button type="submit" className="btn">
            Apply
          </button>
          {problem && (
            <span className="err small" role="alert">
              {problem}
            </span>
          )}
        </form>
      )}
    </span>
  )
}
