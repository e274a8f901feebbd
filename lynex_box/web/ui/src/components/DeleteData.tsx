// Deleting a trace's, a session's or an end user's data (DELETE /v1/projects/{id}/{kind}s/{value}): a confirm
// dialog names exactly what goes; queries stop showing it at once and every file is purged by the time the
// server answers. Project owners and admins only (the server says no to anyone else).
import { useRef, useState } from 'react'
import type { FormEvent, KeyboardEvent } from 'react'
import { api, projectPath } from '../lib/api'
import { fmtTime } from '../lib/format'
import { navigate } from '../lib/router'
import { useSession } from '../session'

export type DeleteKind = 'trace' | 'session' | 'user'
export const KIND_WORDS: Record<DeleteKind, string> = { trace: 'trace', session: 'session', user: 'end user' }

interface Deleted {
  purge_by?: string
}

/** The dialog that asks before deleting, then deletes; `onDeleted` runs once the server accepted. */
export function ConfirmDelete({ pid, kind, id, onDeleted, onCancel }: { pid: string; kind: DeleteKind; id: string; onDeleted: (purgeBy: string | null) => void; onCancel: () => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const what = kind === 'trace' ? `every span of the trace ${id}` : kind === 'session' ? `every trace of the session ${id}` : `every trace of the end user ${id}`
  async function remove() {
    setBusy(true)
    setError(null)
    try {
      const res = await api<Deleted>(projectPath(pid, `/${kind}s/${encodeURIComponent(id)}`), { method: 'DELETE' })
      onDeleted(res?.purge_by ?? null)
    } catch (err) {
      setError((err as Error).message)
      setBusy(false)
    }
  }
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'Escape' && !busy) {
      e.stopPropagation()
      onCancel()
    }
  }
  return (
    <div className="confirm-panel" role="alertdialog" aria-labelledby="delete-title" aria-describedby="delete-body" data-testid="delete-confirm" onKeyDown={onKeyDown}>
      <h3 id="delete-title">
        Delete the data of {KIND_WORDS[kind]} <span className="mono">{id}</span>?
      </h3>
      <ul id="delete-body">
        <li>
          This deletes <strong>{what}</strong>: inputs, outputs, tokens, costs and scores. It cannot be undone.
        </li>
        <li>Lists and queries stop showing it at once; the files that hold it are rewritten within the server's purge delay.</li>
      </ul>
      {error && (
        <div className="error-box" role="alert" data-testid="delete-error">
          {error}
        </div>
      )}
      <div className="row">
        <button type="button" className="btn danger" disabled={busy} onClick={() => void remove()} autoFocus>
          {busy ? 'Deleting…' : `Delete this ${KIND_WORDS[kind]}'s data`}
        </button>
        <button type="button" className="btn" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </div>
  )
}

/** A button that opens the confirm dialog for one trace, session or end user. */
export function DeleteButton({ pid, kind, id, onDeleted }: { pid: string; kind: DeleteKind; id: string; onDeleted: () => void }) {
  const [open, setOpen] = useState(false)
  return (
    <>
      <button type="button" className="btn small danger" onClick={() => setOpen(true)} data-testid={`delete-${kind}`}>
        Delete {KIND_WORDS[kind]}…
      </button>
      {open && <ConfirmDelete pid={pid} kind={kind} id={id} onDeleted={onDeleted} onCancel={() => setOpen(false)} />}
    </>
  )
}

/** The settings card: delete by id, for the ids one has at hand (a user's deletion request, a session id). */
export function DeleteDataCard({ pid, canAdmin }: { pid: string; canAdmin: boolean }) {
  const [pending, setPending] = useState<{ kind: DeleteKind; id: string } | null>(null)
  const [done, setDone] = useState<string | null>(null)
  const opener = useRef<HTMLButtonElement>(null)
  function ask(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const id = String(form.get('id') ?? '').trim()
    if (!id) return
    setDone(null)
    setPending({ kind: String(form.get('kind')) as DeleteKind, id })
  }
  return (
    <section className="card" aria-labelledby="delete-data-title">
      <h2 id="delete-data-title">Delete data</h2>
      <p className="muted small">
        Delete everything stored for one trace, one session or one end user of this project (for example when someone asks for their data to be
        erased). Each deletion is recorded in the audit log.
      </p>
      {!canAdmin && <p className="muted small">An owner or admin of the project can delete data.</p>}
      {canAdmin && (
        <form className="row form-inline" onSubmit={ask} aria-label="Delete data" data-testid="delete-data-form">
          <select name="kind" aria-label="What to delete" defaultValue="user">
            <option value="trace">a trace</option>
            <option value="session">a session</option>
            <option value="user">an end user</option>
          </select>
          <input name="id" placeholder="its id" aria-label="Id to delete" required autoComplete="off" spellCheck={false} />
          <button ref={opener} type="submit" className="btn">
            Delete…
          </button>
        </form>
      )}
      {pending && (
        <ConfirmDelete
          pid={pid}
          kind={pending.kind}
          id={pending.id}
          onCancel={() => {
            setPending(null)
            window.setTimeout(() => opener.current?.focus(), 0)
          }}
          onDeleted={(purgeBy) => {
            setDone(`Deleted the data of ${KIND_WORDS[pending.kind]} ${pending.id}${purgeBy ? `; every file is purged by ${fmtTime(purgeBy)}` : ''}.`)
            setPending(null)
          }}
        />
      )}
      {done && (
        <p className="muted" role="status" data-testid="delete-done">
          {done}
        </p>
      )}
    </section>
  )
}

/** The trace view's delete button (owners and admins): once deleted, back to the traces list, where it is gone. */
export function TraceDeleteButton({ traceId }: { traceId: string }) {
  const { project, canAdmin } = useSession()
  if (!canAdmin) return null
  return <DeleteButton pid={project.project_id} kind="trace" id={traceId} onDeleted={() => navigate('/traces')} />
}

/** The session view's delete button (owners and admins): once deleted, back to the sessions list. */
export function SessionDeleteButton({ sessionId }: { sessionId: string }) {
  const { project, canAdmin } = useSession()
  if (!canAdmin) return null
  return <DeleteButton pid={project.project_id} kind="session" id={sessionId} onDeleted={() => navigate('/sessions')} />
}

/** The end user's page delete button (owners and admins): once deleted, back to the users list. */
export function UserDeleteButton({ userId }: { userId: string }) {
  const { project, canAdmin } = useSession()
  if (!canAdmin) return null
  return <DeleteButton pid={project.project_id} kind="user" id={userId} onDeleted={() => navigate('/users')} />
}
