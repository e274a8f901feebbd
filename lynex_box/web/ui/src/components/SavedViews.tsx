// "Views": the signed-in user's saved filter states of this project (GET/POST/DELETE /api/projects/{id}/views).
// Saving stores the page's current URL query string under a name; opening one puts it back in the URL.
import { useState } from 'react'
import type { FormEvent } from 'react'
import { adminPath, api } from '../lib/api'
import { useDismissableMenu, useLoad } from '../lib/hooks'
import { navigate } from '../lib/router'

export interface SavedView {
  id: string
  name: string
  page: string
  query: string
}

/** `query`: the current URL's query string without `?`; `path`: the page's path, e.g. /traces. */
export function SavedViews({ pid, page, path, query }: { pid: string; page: string; path: string; query: string }) {
  const menu = useDismissableMenu()
  const [name, setName] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const views = useLoad(`${pid}|views`, (signal) => api<{ items: SavedView[] }>(adminPath(pid, '/views'), { signal }))

  async function save(e: FormEvent) {
    e.preventDefault()
    if (!name.trim()) return setProblem('Name the view.')
    try {
      await api(adminPath(pid, '/views'), { method: 'POST', body: { name: name.trim(), page, query } })
      setName('')
      setProblem(null)
      views.reload()
    } catch (err) {
      setProblem((err as Error).message)
    }
  }
  async function remove(id: string) {
    try {
      await api(adminPath(pid, `/views/${encodeURIComponent(id)}`), { method: 'DELETE' })
    } catch (err) {
      setProblem((err as Error).message)
    }
    views.reload()
  }
  const mine = (views.data?.items ?? []).filter((v) => v.page === page)
  return (
    <details className="menu" ref={menu} data-testid="saved-views">
      <summary className="btn">Views{mine.length ? ` (${mine.length})` : ''}</summary>
      <div className="menu-body views-menu">
        <form onSubmit={save} className="row" aria-label="Save this view">
          <input aria-label="View name" placeholder="name this view" value={name} onChange={(e) => setName(e.target.value)} maxLength={120} />
          <button type="submit" className="btn small primary">
            Save
          </button>
        </form>
        {problem && (
          <span className="err small" role="alert">
            {problem}
          </span>
        )}
        {views.error && <span className="err small">{views.error.message}</span>}
        {mine.length === 0 && !views.loading && <span className="muted small">No saved views yet. Only you see yours.</span>}
        <ul className="views-list">
          {mine.map((v) => (
            <li key={v.id} data-testid="saved-view">
              <button
                type="button"
                className="link-button ellipsis"
                title={v.query}
                onClick={() => {
                  if (menu.current) menu.current.open = false
                  navigate(`${path}${v.query ? `?${v.query}` : ''}`)
                }}
              >
                {v.name}
              </button>
              <button type="button" className="btn small" aria-label={`Delete view ${v.name}`} onClick={() => void remove(v.id)}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      </div>
    </details>
  )
}
