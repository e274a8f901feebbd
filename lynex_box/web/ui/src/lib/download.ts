// Downloads of API answers (exports): fetched with the same credentials as every call (session cookie, or the API
// key of this tab), then saved under the server's file name.
import { authMode, queryString } from './api'
import type { Query } from './api'

/** The file name of a Content-Disposition header (`attachment; filename="x.csv"`), or `fallback`. */
export function fileNameOf(disposition: string | null, fallback: string): string {
  const m = /filename="?([^";]+)"?/i.exec(disposition ?? '')
  return m ? m[1] : fallback
}

/** The query an export sends: the list's filters and range, without paging, plus the format. */
export function exportQuery(query: Record<string, unknown>, format: string): Query {
  const out: Query = { format }
  for (const [k, v] of Object.entries(query)) {
    if (k === 'cursor' || k === 'limit' || v === undefined || v === null || v === '') continue
    if (Array.isArray(v)) out[k] = v.map(String) // a repeated filter (any of these values)
    else out[k] = typeof v === 'number' || typeof v === 'boolean' ? v : String(v)
  }
  return out
}

export interface Downloaded {
  name: string
  rows: number | null
  truncated: boolean
}

export async function download(path: string, query: Query, fallbackName: string): Promise<Downloaded> {
  const mode = authMode()
  const headers: Record<string, string> = {}
  if (mode?.kind === 'key') headers.Authorization = `Bearer ${mode.apiKey}`
  const res = await fetch(path + queryString(query), { headers, credentials: 'same-origin' })
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`
    try {
      const body = (await res.json()) as { error?: { message?: string } }
      message = body.error?.message ?? message
    } catch {
      /* not JSON: keep the status line */
    }
    throw new Error(message)
  }
  const blob = await res.blob()
  const name = fileNameOf(res.headers.get('content-disposition'), fallbackName)
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000)
  const rows = res.headers.get('x-lynex-rows')
  return { name, rows: rows === null ? null : Number(rows), truncated: res.headers.get('x-lynex-truncated') === 'true' }
}
