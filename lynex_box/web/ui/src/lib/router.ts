// A small history router: the app lives under /ui/, its views are picked from the path, and
// filters live in the query string so that a URL reproduces what was on screen.
import { useEffect, useState } from 'react'

export const BASE = '/ui'
const EVENT = 'lynex:navigate'

export interface Location {
  path: string // without BASE, always starting with '/'
  params: URLSearchParams
}

function current(): Location {
  let path = window.location.pathname
  if (path.startsWith(BASE)) path = path.slice(BASE.length)
  if (!path.startsWith('/')) path = `/${path}`
  return { path, params: new URLSearchParams(window.location.search) }
}

export function href(path: string, params?: URLSearchParams | Record<string, string>): string {
  const search = params instanceof URLSearchParams ? params : new URLSearchParams(params ?? {})
  const s = search.toString()
  return `${BASE}${path}${s ? `?${s}` : ''}`
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = to.startsWith(BASE) ? to : `${BASE}${to}`
  if (url === window.location.pathname + window.location.search) return
  if (opts.replace) window.history.replaceState(null, '', url)
  else window.history.pushState(null, '', url)
  window.dispatchEvent(new Event(EVENT))
}

/** Replace some query parameters (empty values are removed), keeping the path. */
export function setParams(changes: Record<string, string | null | undefined>, opts: { replace?: boolean } = { replace: true }): void {
  const loc = current()
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') loc.params.delete(k)
    else loc.params.set(k, v)
  }
  loc.params.sort()
  navigate(href(loc.path, loc.params), opts)
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current)
  useEffect(() => {
    const update = () => setLoc(current())
    window.addEventListener('popstate', update)
    window.addEventListener(EVENT, update)
    return () => {
      window.removeEventListener('popstate', update)
      window.removeEventListener(EVENT, update)
    }
  }, [])
  return loc
}

/** Match `/traces/:id` style patterns; returns decoded params or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean)
  const s = path.split('/').filter(Boolean)
  if (p.length !== s.length) return null
  const out: Record<string, string> = {}
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) out[p[i].slice(1)] = decodeURIComponent(s[i])
    else if (p[i] !== s[i]) return null
  }
  return out
}
