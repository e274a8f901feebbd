// The Export menu of a list: downloads what the list's current filters select (its range, filters and search) as
// CSV, JSON Lines or Parquet, from the list's export route (GET /v1/projects/{id}/export/traces).
import { useState } from 'react'
import { projectPath } from '../lib/api'
import { download, exportQuery } from '../lib/download'
import { useDismissableMenu } from '../lib/hooks'
import { fmtInt } from '../lib/format'

const FORMATS: [string, string][] = [
  ['csv', 'CSV (spreadsheets)'],
  ['jsonl', 'JSON Lines'],
  ['parquet', 'Parquet'],
]

export function ExportMenu({ pid, query, list = 'traces' }: { pid: string; query: Record<string, unknown>; list?: string }) {
  const menu = useDismissableMenu()
  const [busy, setBusy] = useState<string | null>(null)
  const [note, setNote] = useState<{ text: string; error: boolean } | null>(null)
  async function run(format: string) {
    setBusy(format)
    setNote(null)
    try {
      const got = await download(projectPath(pid, `/export/${list}`), exportQuery(query, format), `${list}.${format}`)
      const rows = got.rows === null ? '' : `${fmtInt(got.rows)} rows`
      setNote({ text: got.truncated ? `${rows}: the newest only, more matched (narrow the filters)` : `${rows} saved as ${got.name}`, error: false })
    } catch (err) {
      setNote({ text: (err as Error).message, error: true })
    } finally {
      setBusy(null)
    }
  }
  return (
    <details className="menu" ref={menu} data-testid="export-menu">
      <summary className="btn">Export</summary>
      <div className="menu-body" role="group" aria-label="Export">
        <span className="muted small">What the current filters select</span>
        {FORMATS.map(([format, label]) => (
          <button key={format} type="button" className="btn small" disabled={busy !== null} onClick={() => void run(format)}>
            {busy === format ? 'Preparing…' : label}
          </button>
        ))}
        {note && (
          <span className={note.error ? 'err small' : 'muted small'} role="status" data-testid="export-note">
            {note.text}
          </span>
        )}
      </div>
    </details>
  )
}
