// Project settings: API keys (created keys are shown once), the project (ProjectSettings.tsx), model prices,
// plugins (ProjectPlugins.tsx), members and roles (adding someone without an account invites them), the audit log
// (with the organisation's sign-ins and failed sign-ins), and your own account (Account.tsx).
// Owners and admins see the actions; members and viewers see the same data read-only.
import { useState } from 'react'
import type { FormEvent } from 'react'
import { adminPath, api, ApiError, projectPath } from '../lib/api'
import { fmtTime } from '../lib/format'
import { useLoad } from '../lib/hooks'
import { navigate } from '../lib/router'
import { useSession } from '../session'
import { AdminError } from '../components/AdminError'
import { CopyCode, EmptyState, JsonView, Tabs } from '../components/ui'
import { ProjectPlugins } from './ProjectPlugins'
import { ProjectSettings } from './ProjectSettings'
import { AccountCard } from './Account'

type Tab = 'keys' | 'project' | 'prices' | 'plugins' | 'members' | 'audit' | 'account'
const TABS: [Tab, string][] = [
  ['keys', 'API keys'],
  ['project', 'Project'],
  ['prices', 'Model prices'],
  ['plugins', 'Plugins'],
  ['members', 'Members'],
  ['audit', 'Audit log'],
  ['account', 'Your account'],
]

/** Lists come as a bare array or wrapped ({items}, {keys}, {members}…): accept each. */
export function asList<T>(value: unknown): T[] {
  if (Array.isArray(value)) return value as T[]
  if (value && typeof value === 'object') {
    for (const k of ['items', 'keys', 'members', 'entries', 'events']) {
      const v = (value as Record<string, unknown>)[k]
      if (Array.isArray(v)) return v as T[]
    }
  }
  return []
}

/** Times may be epoch µs, ms or s, or RFC 3339. */
export function anyTime(value: unknown): string {
  if (value === null || value === undefined || value === '') return '—'
  if (typeof value === 'number') {
    const ms = value > 1e14 ? value / 1000 : value > 1e11 ? value : value * 1000
    return fmtTime(ms)
  }
  return fmtTime(String(value))
}

export function Settings({ tab }: { tab: string }) {
  const { canAdmin, project } = useSession()
  const current = (TABS.find((t) => t[0] === tab)?.[0] ?? 'keys') as Tab
  return (
    <div className="page">
      <header className="page-head">
        <h1>Settings · {project.name}</h1>
      </header>
      <Tabs label="Settings" tabs={TABS} value={current} onChange={(t) => navigate(`/settings/${t}`)} />
      {!canAdmin && (
        <p className="notice" data-testid="readonly-notice">
          Your role ({project.role}) can see these settings but not change them.
        </p>
      )}
      {current === 'keys' && <Keys />}
      {current === 'project' && <ProjectSettings />}
      {current === 'prices' && <Prices />}
      {current === 'plugins' && <ProjectPlugins />}
      {current === 'members' && <Members />}
      {current === 'audit' && <Audit />}
      {current === 'account' && <Account />}
    </div>
  )
}

interface KeyRow {
  key_id: string
  prefix?: string
  scope?: string
  name?: string
  created_at?: number | string
  last_used_at?: number | string | null
  revoked_at?: number | string | null
  expires_at?: number | string | null
}

function Keys() {
  const { project, canAdmin } = useSession()
  const pid = project.project_id
  const keys = useLoad(`keys|${pid}`, (signal) => api<unknown>(adminPath(pid, '/keys'), { signal }))
  const [created, setCreated] = useState<{ api_key: string; key_id: string } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [confirm, setConfirm] = useState<string | null>(null)

  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    setError(null)
    try {
      const res = await api<{ api_key: string; key_id: string }>(adminPath(pid, '/keys'), {
        method: 'POST',
        body: { name: String(form.get('name') ?? ''), scope: String(form.get('scope') ?? 'ingest') },
      })
      setCreated(res)
      keys.reload()
      e.currentTarget?.reset()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  async function revoke(keyId: string) {
    setError(null)
    try {
      await api(adminPath(pid, `/keys/${encodeURIComponent(keyId)}`), { method: 'DELETE' })
      setConfirm(null)
      keys.reload()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  const rows = asList<KeyRow>(keys.data)
  return (
    <section className="card">
      {error && <div className="error-box" role="alert">{error}</div>}
      {created && (
        <div className="created-key" data-testid="created-key" role="status">
          <strong>New key created. Copy it now: it is shown only once.</strong>
          <CopyCode code={created.api_key} label="API key" />
          <button type="button" className="btn small" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      {canAdmin && (
        <form className="row form-inline" onSubmit={create} aria-label="Create an API key" data-testid="create-key-form">
          <input name="name" placeholder="Key name (e.g. backend prod)" aria-label="Key name" />
          <select name="scope" aria-label="Scope" defaultValue="ingest">
            <option value="ingest">ingest: send events</option>
            <option value="read">read: query</option>
            <option value="admin">admin: send and query</option>
          </select>
          <button className="btn primary" type="submit">
            Create key
          </button>
        </form>
      )}
      {keys.error && <AdminError error={keys.error} onRetry={keys.reload} />}
      {keys.data !== null && rows.length === 0 && <EmptyState title="No API keys">{canAdmin ? <p>Create one above to send events.</p> : null}</EmptyState>}
      {rows.length > 0 && (
        <table className="table" data-testid="keys-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Key</th>
              <th>Scope</th>
              <th>Created</th>
              <th>Last used</th>
              <th>State</th>
              {canAdmin && <th />}
            </tr>
          </thead>
          <tbody>
            {rows.map((k) => (
              <tr key={k.key_id} data-testid="key-row" data-key-id={k.key_id}>
                <td>{k.name || <span className="muted">(unnamed)</span>}</td>
                <td className="mono small">{k.prefix ? `lx_${k.prefix}_…` : k.key_id}</td>
                <td>{k.scope}</td>
                <td className="small">{anyTime(k.created_at)}</td>
                <td className="small">{anyTime(k.last_used_at)}</td>
                <td>{k.revoked_at ? <span className="badge status-error">revoked</span> : <span className="badge status-ok">active</span>}</td>
                {canAdmin && (
                  <td className="num">
                    {!k.revoked_at &&
                      (confirm === k.key_id ? (
                        <>
                          <button type="button" className="btn small danger" onClick={() => void revoke(k.key_id)}>
                            Confirm revoke
                          </button>{' '}
                          <button type="button" className="btn small" onClick={() => setConfirm(null)}>
                            Cancel
                          </button>
                        </>
                      ) : (
                        <button type="button" className="btn small" onClick={() => setConfirm(k.key_id)}>
                          Revoke
                        </button>
                      ))}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

interface MemberRow {
  user_id?: string
  id?: string
  email?: string
  name?: string
  role?: string
  org_role?: string | null
  project_role?: string | null
}

function Members() {
  const { project, canAdmin, me, mode } = useSession()
  const pid = project.project_id
  const members = useLoad(`members|${pid}`, (signal) => api<unknown>(adminPath(pid, '/members'), { signal }))
  const [msg, setMsg] = useState<{ text: string; error: boolean } | null>(null)
  const [reset, setReset] = useState<{ email: string; url: string; expires_at?: number | string } | null>(null)
  // an admin hands a member a one-time link to choose a new password (admins never set passwords themselves)
  const canReset = canAdmin && mode.kind === 'session' && !!project.org_id
  const [resetError, setResetError] = useState<string | null>(null)
  async function issueReset(m: MemberRow) {
    setResetError(null)
    setReset(null)
    try {
      const uid = encodeURIComponent(m.user_id ?? m.id ?? '')
      const res = await api<{ url: string; expires_at?: number | string }>(
        `/api/orgs/${encodeURIComponent(project.org_id ?? '')}/members/${uid}/password-reset`,
        { method: 'POST' },
      )
      setReset({ email: m.email ?? '', url: res.url, expires_at: res.expires_at })
    } catch (err) {
      setResetError((err as Error).message)
    }
  }
  const [invited, setInvited] = useState<Invited | null>(null)
  async function add(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const formEl = e.currentTarget
    const form = new FormData(formEl)
    const email = String(form.get('email') ?? '').trim()
    const role = String(form.get('role') ?? 'member')
    setMsg(null)
    setInvited(null)
    try {
      await api(adminPath(pid, '/members'), { method: 'POST', body: { email, role } })
      setMsg({ text: `${email} was added as ${role}.`, error: false })
      formEl.reset()
      members.reload()
    } catch (err) {
      // no account of this organisation has that email: invite it (the answer is the same for accounts elsewhere)
      if (err instanceof ApiError && err.status === 404 && project.org_id) {
        try {
          const res = await api<{ url: string; emailed?: boolean }>(`/api/orgs/${encodeURIComponent(project.org_id)}/invitations`, {
            method: 'POST',
            body: { email, role: 'viewer', project_id: pid, project_role: role },
          })
          setInvited({ email, role, url: res.url, emailed: !!res.emailed })
          formEl.reset()
        } catch (inviteErr) {
          setMsg({ text: (inviteErr as Error).message, error: true })
        }
      } else setMsg({ text: (err as Error).message, error: true })
    }
  }
  const rows = asList<MemberRow>(members.data)
  return (
    <section className="card">
      {members.error && <AdminError error={members.error} onRetry={members.reload} />}
      {canAdmin && (
        <form className="row form-inline" onSubmit={add} aria-label="Add a member" data-testid="add-member-form">
          <input name="email" type="email" placeholder="email@example.com" required aria-label="Email" />
          <select name="role" aria-label="Role" defaultValue="member">
            <option value="viewer">viewer</option>
            <option value="member">member</option>
            <option value="admin">admin</option>
            <option value="owner">owner</option>
          </select>
          <button className="btn primary" type="submit">
            Add member
          </button>
          {msg && (
            <span className={msg.error ? 'err small' : 'muted small'} role="status" data-testid="add-member-result">
              {msg.text}
            </span>
          )}
        </form>
      )}
      {canAdmin && <p className="muted small">Someone without an account here gets an invitation to this project by email (or a link to send them).</p>}
      {invited && (
        <div className="created-key" role="status" data-testid="invite-link">
          {invited.emailed ? (
            <strong>
              {invited.email} has no account here yet: an invitation to join as {invited.role} was emailed to them. You can also send them this link
              (shown once).
            </strong>
          ) : (
            <strong>
              {invited.email} has no account here yet, and this server sends no email: send them this invitation link to join as {invited.role}. It is
              shown only once.
            </strong>
          )}
          <CopyCode code={invited.url} label="invitation link" />
          <button type="button" className="btn small" onClick={() => setInvited(null)}>
            Done
          </button>
        </div>
      )}
      {reset && (
        <div className="created-key" role="status" data-testid="reset-link">
          <strong>
            Send this link to {reset.email || 'the member'}: it lets them choose a new password once, until {anyTime(reset.expires_at)}. It is shown
            only once.
          </strong>
          <CopyCode code={reset.url} label="password reset link" />
          <button type="button" className="btn small" onClick={() => setReset(null)}>
            Done
          </button>
        </div>
      )}
      {resetError && (
        <div className="error-box" role="alert" data-testid="reset-link-error">
          {resetError}
        </div>
      )}
      <table className="table" data-testid="members-table">
        <thead>
          <tr>
            <th>Email</th>
            <th>Name</th>
            <th>Role</th>
            <th>From</th>
            {canReset && <th />}
          </tr>
        </thead>
        <tbody>
          {rows.map((m) => (
            <tr key={m.user_id ?? m.id ?? m.email} data-testid="member-row">
              <td>{m.email}</td>
              <td>{m.name || '—'}</td>
              <td>{m.role}</td>
              <td className="muted small">{m.project_role ? 'project' : m.org_role ? 'organisation' : '—'}</td>
              {canReset && (
                <td className="num">
                  {(m.user_id ?? m.id) !== me.user?.id && (
                    <button type="button" className="btn small" onClick={() => void issueReset(m)} aria-label={`Password reset link for ${m.email ?? 'this member'}`}>
                      Reset link
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

interface AuditRow {
  id?: string | number
  at?: number | string
  actor_type?: string
  actor_id?: string
  actor_label?: string
  action?: string
  target_type?: string | null
  target_id?: string | null
  ip?: string
  details?: unknown
}

type AuditShow = 'project' | 'login' | 'login.failed'
const AUDIT_SHOW: [AuditShow, string][] = [
  ['project', 'Changes to this project'],
  ['login', 'Sign-ins'],
  ['login.failed', 'Failed sign-ins'],
]

/** The browser of a sign-in, as its entry's details keep it. */
function userAgent(details: unknown): string {
  const agent = details && typeof details === 'object' ? (details as Record<string, unknown>).user_agent : undefined
  return typeof agent === 'string' ? agent : ''
}

function Audit() {
  const { project, mode } = useSession()
  const pid = project.project_id
  const [show, setShow] = useState<AuditShow>('project')
  const [cursor, setCursor] = useState<string | null>(null)
  // sign-ins belong to the organisation's log (its members', not one project's): owners and admins of it read them
  const orgLog = show !== 'project' && !!project.org_id
  const audit = useLoad(`audit|${pid}|${show}|${cursor}`, (signal) =>
    orgLog
      ? api<{ items?: AuditRow[]; next_cursor?: string | null }>(`/api/orgs/${encodeURIComponent(project.org_id ?? '')}/audit`, {
          query: { limit: 100, cursor, action: show },
          signal,
        })
      : api<{ items?: AuditRow[]; next_cursor?: string | null }>(adminPath(pid, '/audit'), { query: { limit: 100, cursor }, signal }),
  )
  const rows = asList<AuditRow>(audit.data)
  const empty = show === 'project' ? 'No administrative changes recorded yet' : show === 'login' ? 'No sign-ins recorded yet' : 'No failed sign-ins recorded'
  return (
    <section className="card">
      {mode.kind === 'session' && project.org_id && (
        <label className="row">
          <span>Show</span>
          <select
            aria-label="Show"
            data-testid="audit-show"
            value={show}
            onChange={(e) => {
              setShow(e.target.value as AuditShow)
              setCursor(null)
            }}
          >
            {AUDIT_SHOW.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
      )}
      {show !== 'project' && <p className="muted small">Sign-ins of this organisation's members, with the address and browser they came from.</p>}
      {audit.error && <AdminError error={audit.error} onRetry={audit.reload} />}
      {audit.data !== null && rows.length === 0 && <EmptyState title={empty} />}
      {rows.length > 0 && (
        <table className="table" data-testid="audit-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Target</th>
              <th>From</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={r.id ?? i} data-testid="audit-row">
                <td className="small mono">{anyTime(r.at)}</td>
                <td>
                  {r.actor_label || r.actor_id || '—'} <span className="muted small">{r.actor_type}</span>
                </td>
                <td>{r.action}</td>
                <td className="mono small">{r.target_id ? `${r.target_type ?? ''} ${r.target_id}` : '—'}</td>
                <td className="small">
                  {r.ip || '—'}
                  {userAgent(r.details) && (
                    <div className="muted ellipsis" title={userAgent(r.details)}>
                      {userAgent(r.details)}
                    </div>
                  )}
                </td>
                <td className="small">{r.details ? <JsonView value={r.details} depth={2} /> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="row">
        {cursor && (
          <button type="button" className="btn small" onClick={() => setCursor(null)}>
            ← Newest
          </button>
        )}
        {audit.data?.next_cursor && (
          <button type="button" className="btn small" onClick={() => setCursor(audit.data?.next_cursor ?? null)}>
            Older →
          </button>
        )}
      </div>
    </section>
  )
}

interface PriceRow {
  model: string
  provider: string | null
  input_per_mtok: number | null
  output_per_mtok: number | null
  cache_read_per_mtok: number | null
  cache_write_per_mtok: number | null
}

/** Custom prices (USD per million tokens) that override the price library for spans ingested from now on. */
function Prices() {
  const { project, canAdmin, mode } = useSession()
  const pid = project.project_id
  const prices = useLoad(`prices|${pid}`, (signal) => api<unknown>(projectPath(pid, '/prices'), { signal, quiet: true }))
  const [msg, setMsg] = useState<string | null>(null)
  const rows = asList<PriceRow>(prices.data)
  const num = (v: FormDataEntryValue | null) => (v === null || String(v).trim() === '' ? null : Number(v))
  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const f = new FormData(e.currentTarget)
    setMsg(null)
    try {
      const price = {
        model: String(f.get('model') ?? ''), provider: String(f.get('provider') ?? '') || null,
        input_per_mtok: num(f.get('input_per_mtok')), output_per_mtok: num(f.get('output_per_mtok')),
      }
      await api(projectPath(pid, '/prices'), { method: 'PUT', body: { prices: [price] } })
      prices.reload()
    } catch (err) {
      setMsg((err as Error).message)
    }
  }
  async function remove(p: PriceRow) {
    try {
      await api(projectPath(pid, '/prices'), { method: 'DELETE', query: { model: p.model, provider: p.provider } })
      prices.reload()
    } catch (err) {
      setMsg((err as Error).message)
    }
  }
  if (prices.error && mode.kind === 'session' && prices.error instanceof ApiError && prices.error.status === 401) {
    return (
      <section className="card">
        <p className="notice">Custom prices are managed with an admin API key of this project for now (<code>PUT /v1/projects/{pid}/prices</code>).</p>
      </section>
    )
  }
  return (
    <section className="card">
      {prices.error && <AdminError error={prices.error} onRetry={prices.reload} />}
      <p className="muted small">USD per million tokens. They replace the price library for this project's spans ingested from now on; stored spans keep their cost.</p>
      {canAdmin && (
        <form className="row form-inline" onSubmit={save} aria-label="Set a model price">
          <input name="model" placeholder="model (e.g. gpt-4o)" required aria-label="Model" />
          <input name="provider" placeholder="provider (optional)" aria-label="Provider" />
          <input name="input_per_mtok" placeholder="input $/M" inputMode="decimal" aria-label="Input price per million tokens" />
          <input name="output_per_mtok" placeholder="output $/M" inputMode="decimal" aria-label="Output price per million tokens" />
          <button className="btn primary" type="submit">
            Save price
          </button>
          {msg && <span className="err small">{msg}</span>}
        </form>
      )}
      {prices.data !== null && rows.length === 0 && <EmptyState title="No custom prices: the price library applies" />}
      {rows.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th>Model</th>
              <th>Provider</th>
              <th className="num">Input $/M</th>
              <th className="num">Output $/M</th>
              <th className="num">Cache read $/M</th>
              {canAdmin && <th />}
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={`${p.provider}|${p.model}`}>
                <td>{p.model}</td>
                <td>{p.provider ?? '—'}</td>
                <td className="num">{p.input_per_mtok ?? '—'}</td>
                <td className="num">{p.output_per_mtok ?? '—'}</td>
                <td className="num">{p.cache_read_per_mtok ?? '—'}</td>
                {canAdmin && (
                  <td className="num">
                    <button type="button" className="btn small" onClick={() => void remove(p)}>
                      Remove
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

interface Invited {
  email: string
  role: string
  url: string
  emailed: boolean
}

function Account() {
  const { me } = useSession()
  if (!me.user) {
    return (
      <section className="card">
        <p className="muted">You opened this project with an API key: there is no account or password to change.</p>
      </section>
    )
  }
  return <AccountCard email={me.user.email} />
}
