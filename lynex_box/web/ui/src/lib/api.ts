// HTTP to the appliance: session cookie (+ CSRF header on writes) or, as a fallback, an API key
// kept in sessionStorage and sent as `Authorization: Bearer`. Errors carry the API's code and message.

export type AuthMode = { kind: 'session' } | { kind: 'key'; apiKey: string; projectId: string }

const KEY_STORE = 'lynex.keyAuth'

export class ApiError extends Error {
  status: number
  code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

let mode: AuthMode | null = null
let onUnauthorized: (() => void) | null = null

export function setAuthMode(m: AuthMode | null): void {
  mode = m
  if (m?.kind === 'key') sessionStorage.setItem(KEY_STORE, JSON.stringify({ apiKey: m.apiKey, projectId: m.projectId }))
  else sessionStorage.removeItem(KEY_STORE)
}

export function authMode(): AuthMode | null {
  return mode
}

export function storedKeyAuth(): AuthMode | null {
  try {
    const raw = sessionStorage.getItem(KEY_STORE)
    if (!raw) return null
    const v = JSON.parse(raw) as { apiKey?: string; projectId?: string }
    return v.apiKey && v.projectId ? { kind: 'key', apiKey: v.apiKey, projectId: v.projectId } : null
  } catch {
    return null
  }
}

export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn
}

function cookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return decodeURIComponent(v.join('='))
  }
  return null
}

let csrfToken: string | null = null
export function setCsrfToken(token: string | null): void {
  csrfToken = token
}

export type Query = Record<string, string | number | boolean | null | undefined | readonly string[]>

/** `?a=1&b=x`, leaving out empty values; keys sorted so equal queries give equal URLs. */
export function queryString(q: Query | undefined): string {
  if (!q) return ''
  const parts = Object.keys(q)
    .sort()
    .filter((k) => q[k] !== undefined && q[k] !== null && q[k] !== '')
    .flatMap((k) => {
      const v = q[k]
      // a list is the parameter repeated (`model=a&model=b`: any of them)
      const values = Array.isArray(v) ? (v as readonly string[]).filter((x) => x !== '') : [String(v)]
      return values.map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`)
    })
  return parts.length ? `?${parts.join('&')}` : ''
}

export interface RequestOptions {
  method?: string
  query?: Query
  body?: unknown
  signal?: AbortSignal
  /** do not call the unauthorized handler on 401 (the login probe) */
  quiet?: boolean
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET'
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
  if (mode?.kind === 'key') headers.Authorization = `Bearer ${mode.apiKey}`
  if (method !== 'GET' && method !== 'HEAD') {
    const token = csrfToken ?? cookie('lynex_csrf')
    if (token) headers['X-CSRF-Token'] = token
  }
  let res: Response
  try {
    res = await fetch(path + queryString(opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
      signal: opts.signal,
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, 'network', 'cannot reach the appliance; is it running?')
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  let data: unknown = null
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      data = null
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | null)?.error
    if (res.status === 401 && !opts.quiet && onUnauthorized) onUnauthorized()
    throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `${res.status} ${res.statusText}`)
  }
  return data as T
}

export function projectPath(projectId: string, rest: string): string {
  return `/v1/projects/${encodeURIComponent(projectId)}${rest}`
}

export function adminPath(projectId: string, rest: string): string {
  return `/api/projects/${encodeURIComponent(projectId)}${rest}`
}
