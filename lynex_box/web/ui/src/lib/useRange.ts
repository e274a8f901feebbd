// One time range shared by every view: the URL's (`range`, or `from` and `to`) when it names one, else the last
// range picked in any view (kept in localStorage), else the default preset. Opening a URL that names a range makes
// it the shared one too, so moving from the overview to the traces keeps the same window.
import { useCallback, useEffect } from 'react'
import { setParams, useLocation } from './router'
import { DEFAULT_RANGE, rangeParams, readRange } from './timerange'
import type { TimeRange } from './timerange'

const STORE = 'lynex.timeRange'

function stored(fallback: string): TimeRange {
  try {
    const raw = localStorage.getItem(STORE)
    if (raw) {
      const r = readRange(new URLSearchParams(raw))
      if (r) return r
    }
  } catch {
    /* storage disabled: the default */
  }
  return { kind: 'preset', key: fallback }
}

function store(r: TimeRange): void {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(rangeParams(r))) if (v !== null) p.set(k, v)
  try {
    localStorage.setItem(STORE, p.toString())
  } catch {
    /* storage full or disabled: the URL still carries it */
  }
}

export function rangeKey(r: TimeRange): string {
  return r.kind === 'preset' ? r.key : `${r.from}-${r.to}`
}

/** The view's range and a setter that puts it in the URL (a new history entry) and makes it the shared default. */
export function useTimeRange(fallback: string = DEFAULT_RANGE): { range: TimeRange; setRange: (r: TimeRange) => void } {
  const loc = useLocation()
  const fromUrl = readRange(loc.params)
  const range = fromUrl ?? stored(fallback)
  const urlKey = fromUrl ? rangeKey(fromUrl) : ''
  useEffect(() => {
    if (fromUrl) store(fromUrl)
  }, [urlKey]) // eslint-disable-line react-hooks/exhaustive-deps
  const setRange = useCallback((r: TimeRange) => {
    store(r)
    setParams(rangeParams(r), { replace: false })
  }, [])
  return { range, setRange }
}

/** The range as a query string (`range=24h` or `from=…&to=…`), for links that keep it. */
export function rangeQuery(r: TimeRange): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(rangeParams(r))) if (v !== null) p.set(k, v)
  return p.toString()
}
