// The Project tab of the settings: identity (rename; a new project), the data lifecycle (how long data is kept and
// how long it stays on local disk, each the project's own value or the server's default, and the value in force
// shown either way), deleting one trace's, session's or end user's data, and encryption at rest, which is one-way
// and so asks for an explicit confirmation first. Roles without `settings.manage` see it read-only. Everything is
// said in plain words: a setting's name in lynex.toml appears at most in a small hint.
import { useRef, useState } from 'react'
import type { FormEvent, KeyboardEvent } from 'react'
import { adminPath, api } from '../lib/api'
import { describeDuration, describeRetention, effective, formatDuration, parseDuration, parseRetentionDays } from '../lib/duration'
import { useLoad } from '../lib/hooks'
import { useSession } from '../session'
import { AdminError } from '../components/AdminError'
import { DeleteDataCard } from '../components/DeleteData'
import { JsonView } from '../components/ui'
import { PiiCard } from './ProjectPii'
import type { PiiSetting } from '../lib/pii'

export interface EncryptionStatus {
  enabled: boolean
  key_available: boolean
  error: string | null
}

export interface ProjectSettingsData {
  project_id: string
  name: string
  retention_days: number | null
  hot_window_s: number | null
  sample_text?: number
  defaults?: { retention_days?: number; hot_window_s?: number }
  offload_enabled?: boolean
  encryption?: EncryptionStatus
  pii?: PiiSetting
}

export function ProjectSettings() {
  const { project, canAdmin } = useSession()
  const pid = project.project_id
  const settings = useLoad(`settings|${pid}`, (signal) => api<ProjectSettingsData>(adminPath(pid, '/settings'), { signal }))
  const [saved, setSaved] = useState<string | null>(null)
  const data = settings.data
  const onSaved = (message: string) => {
    setSaved(message)
    settings.reload()
  }
  return (
    <>
      <section className="card">
        {settings.error && <AdminError error={settings.error} onRetry={settings.reload} />}
        <dl className="kv">
          <dt>Project id</dt>
          <dd className="mono">{pid}</dd>
          <dt>Name</dt>
          <dd data-testid="project-name">{data?.name ?? project.name}</dd>
        </dl>
        {canAdmin && data && <RenameProject key={data.name} pid={pid} name={data.name} onRenamed={settings.reload} />}
        <NewProject />
      </section>
      {data && (
        <Lifecycle
          // a reload with other values (saved here or elsewhere) starts the form again from them
          key={`${data.retention_days}|${data.hot_window_s}|${data.sample_text}`}
          data={data}
          canAdmin={canAdmin}
          saved={saved}
          onSaved={onSaved}
          onEdit={() => setSaved(null)}
        />
      )}
      {data?.pii && (
        <PiiCard
          projectId={pid}
          pii={data.pii}
          canAdmin={canAdmin}
          onSaved={settings.reload}
        />
      )}
      <DeleteDataCard pid={pid} canAdmin={canAdmin} />
      {data && <Encryption data={data} canAdmin={canAdmin} onChanged={settings.reload} />}
      {data && (
        <details className="card">
          <summary>Technical details (the settings as the API returns them)</summary>
          <JsonView value={data} />
        </details>
      )}
    </>
  )
}

/** Rename the project (owners and admins); the project switcher shows the new name at once. */
function RenameProject({ pid, name, onRenamed }: { pid: string; name: string; onRenamed: () => void }) {
  const { reload } = useSession()
  const [value, setValue] = useState(name)
  const [msg, setMsg] = useState<{ text: string; error: boolean } | null>(null)
  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const next = value.trim()
    if (!next || next === name) return
    setMsg(null)
    try {
      await api(adminPath(pid, '/settings'), { method: 'PATCH', body: { name: next } })
      onRenamed()
      reload?.()
    } catch (err) {
      setMsg({ text: (err as Error).message, error: true })
    }
  }
  return (
    <form className="row form-inline" onSubmit={save} aria-label="Rename the project" data-testid="rename-project-form">
      <input aria-label="Project name" value={value} maxLength={200} required onChange={(e) => setValue(e.target.value)} />
      <button type="submit" className="btn" disabled={!value.trim() || value.trim() === name}>
        Rename
      </button>
      {msg && <span className={msg.error ? 'err small' : 'muted small'}>{msg.text}</span>}
    </form>
  )
}

/** Create a project in an organisation one owns or administers, then open it. */
function NewProject() {
  const { me, reload, setProject } = useSession()
  const orgs = me.orgs.filter((o) => o.role === 'owner' || o.role === 'admin')
  const [error, setError] = useState<string | null>(null)
  if (orgs.length === 0) return null
  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    setError(null)
    try {
      const res = await api<{ project_id: string }>('/api/projects', {
        method: 'POST',
        body: { name: String(form.get('name') ?? '').trim(), org_id: String(form.get('org_id') ?? orgs[0].id) },
      })
      setProject(res.project_id)
      reload?.()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <details className="section">
      <summary>New project</summary>
      <form className="row form-inline" onSubmit={create} aria-label="New project" data-testid="new-project-form">
        <input name="name" placeholder="Project name" aria-label="New project name" maxLength={200} required />
        {orgs.length > 1 ? (
          <select name="org_id" aria-label="Organisation">
            {orgs.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        ) : (
          <input type="hidden" name="org_id" value={orgs[0].id} />
        )}
        <button type="submit" className="btn primary">
          Create project
        </button>
        {error && <span className="err small">{error}</span>}
      </form>
    </details>
  )
}

type RetentionMode = 'default' | 'forever' | 'days'
type HotMode = 'default' | 'custom'

interface LifecycleProps {
  data: ProjectSettingsData
  canAdmin: boolean
  saved: string | null
  onSaved: (message: string) => void
  onEdit: () => void
}

function Lifecycle({ data, canAdmin, saved, onSaved, onEdit }: LifecycleProps) {
  const pid = data.project_id
  const retention = effective(data.retention_days, data.defaults?.retention_days)
  const hot = effective(data.hot_window_s, data.defaults?.hot_window_s)
  const [retMode, setRetMode] = useState<RetentionMode>(data.retention_days === null ? 'default' : data.retention_days === 0 ? 'forever' : 'days')
  const [days, setDays] = useState(String(data.retention_days || data.defaults?.retention_days || 30))
  const [hotMode, setHotMode] = useState<HotMode>(data.hot_window_s === null ? 'default' : 'custom')
  const [hotText, setHotText] = useState(formatDuration(hot.value ?? 7 * 86_400))
  const [samplePct, setSamplePct] = useState(String(Math.round((data.sample_text ?? 1) * 1000) / 10))
  const [fieldErrors, setFieldErrors] = useState<{ days?: string; hot?: string; sample?: string }>({})
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const edited = () => {
    setError(null)
    onEdit()
  }
  const pickRetention = (mode: RetentionMode) => {
    setRetMode(mode)
    edited()
  }
  const pickHot = (mode: HotMode) => {
    setHotMode(mode)
    edited()
  }

  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const errors: { days?: string; hot?: string; sample?: string } = {}
    let retentionValue: number | null = retMode === 'default' ? null : 0
    if (retMode === 'days') {
      const p = parseRetentionDays(days)
      if (p.ok) retentionValue = p.days
      else errors.days = p.error
    }
    let hotValue: number | null = null
    if (hotMode === 'custom') {
      const p = parseDuration(hotText)
      if (p.ok) hotValue = p.seconds
      else errors.hot = p.error
    }
    const pct = Number(samplePct)
    const sampleValue = samplePct.trim() !== '' && Number.isFinite(pct) && pct >= 0 && pct <= 100 ? pct / 100 : null
    if (sampleValue === null) errors.sample = 'Enter a percentage from 0 to 100.'
    setFieldErrors(errors)
    if (errors.days || errors.hot || errors.sample) return
    const body: Record<string, number | null> = {}
    if (sampleValue !== null && sampleValue !== (data.sample_text ?? 1)) body.sample_text = sampleValue
    if (retentionValue !== data.retention_days) body.retention_days = retentionValue
    if (hotValue !== data.hot_window_s) body.hot_window_s = hotValue
    if (Object.keys(body).length === 0) {
      onSaved('Nothing changed.')
      return
    }
    setBusy(true)
    setError(null)
    try {
      await api(adminPath(pid, '/settings'), { method: 'PATCH', body })
      onSaved('Saved.')
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }

  // the lynex.toml key only as a hover hint: the page says what the setting does
  const source = (s: 'project' | 'default', key: string) =>
    s === 'project' ? "this project's setting" : <span title={`set by the operator in lynex.toml: [lifecycle] ${key}`}>the server default</span>
  const defaultRetention = data.defaults?.retention_days
  const defaultHot = data.defaults?.hot_window_s
  return (
    <section className="card">
      <h2>Data lifecycle</h2>
      <form className="form" onSubmit={save} aria-label="Data lifecycle" data-testid="lifecycle-form" noValidate>
        <fieldset disabled={!canAdmin}>
          <legend>How long data is kept</legend>
          <p className="small" data-testid="retention-effective">
            In force: <strong>{retention.value === null ? 'the server default' : describeRetention(retention.value)}</strong> ·{' '}
            {source(retention.source, 'retention_days')}
          </p>
          <p className="muted small">Spans older than this (by start time) are hidden at once and removed by the next retention pass.</p>
          <label className="check">
            <input type="radio" name="retention" value="default" checked={retMode === 'default'} onChange={() => pickRetention('default')} />
            Use the server default{defaultRetention !== undefined && ` (${describeRetention(defaultRetention)})`}
          </label>
          <label className="check">
            <input type="radio" name="retention" value="forever" checked={retMode === 'forever'} onChange={() => pickRetention('forever')} />
            Keep forever
          </label>
          <div className="row">
            <label className="check">
              <input type="radio" name="retention" value="days" checked={retMode === 'days'} onChange={() => pickRetention('days')} />
              Keep for
            </label>
            <input
              className="input-narrow"
              type="number"
              min={0}
              step={1}
              inputMode="numeric"
              aria-label="Retention in days"
              aria-invalid={fieldErrors.days ? true : undefined}
              aria-describedby={fieldErrors.days ? 'retention-days-error' : undefined}
              value={days}
              onChange={(e) => {
                setDays(e.target.value)
                setRetMode('days')
                edited()
              }}
            />
            <span>days</span>
          </div>
          {fieldErrors.days && (
            <span className="field-error" id="retention-days-error">
              {fieldErrors.days}
            </span>
          )}
        </fieldset>
        <fieldset disabled={!canAdmin}>
          <legend>How long data stays on local disk</legend>
          <p className="small" data-testid="hot-window-effective">
            In force: <strong>{hot.value === null ? 'the server default' : describeDuration(hot.value)}</strong> on local disk before data moves
            to the storage bucket · {source(hot.source, 'hot_window_s')}
          </p>
          {data.offload_enabled === false && (
            <p className="notice small" data-testid="no-bucket-notice">
              This server has no storage bucket: all data stays on local disk, and this setting applies once the operator configures one.
            </p>
          )}
          <label className="check">
            <input type="radio" name="hot_window" value="default" checked={hotMode === 'default'} onChange={() => pickHot('default')} />
            Use the server default{defaultHot !== undefined && ` (${describeDuration(defaultHot)})`}
          </label>
          <div className="row">
            <label className="check">
              <input type="radio" name="hot_window" value="custom" checked={hotMode === 'custom'} onChange={() => pickHot('custom')} />
              Keep on local disk for
            </label>
            <input
              className="input-narrow"
              type="text"
              aria-label="Hot window"
              placeholder="12h"
              autoComplete="off"
              spellCheck={false}
              aria-invalid={fieldErrors.hot ? true : undefined}
              aria-describedby="hot-window-hint"
              value={hotText}
              onChange={(e) => {
                setHotText(e.target.value)
                setHotMode('custom')
                edited()
              }}
            />
          </div>
          <span className="muted small" id="hot-window-hint">
            {fieldErrors.hot ? <span className="field-error">{fieldErrors.hot}</span> : 'e.g. 12h, 7d, 1d 12h, or seconds; 0 moves data to the bucket at the next pass.'}
          </span>
        </fieldset>
        <fieldset disabled={!canAdmin}>
          <legend>Prompts and completions kept</legend>
          <p className="muted small">
            Keep the prompts, completions and tool arguments of this share of traces (chosen by trace id, so a trace is whole or absent). Errors
            and flagged spans always keep theirs; tokens, costs and timings are kept for every span.
          </p>
          <div className="row">
            <label htmlFor="sample-text">Keep text of</label>
            <input
              id="sample-text"
              className="input-narrow"
              type="number"
              min={0}
              max={100}
              step="any"
              inputMode="decimal"
              aria-label="Share of traces whose text is kept, in percent"
              aria-invalid={fieldErrors.sample ? true : undefined}
              data-testid="sample-text"
              value={samplePct}
              onChange={(e) => {
                setSamplePct(e.target.value)
                edited()
              }}
            />
            <span>% of traces</span>
          </div>
          {fieldErrors.sample && <span className="field-error">{fieldErrors.sample}</span>}
        </fieldset>
        {error && (
          <div className="error-box" role="alert">
            {error}
          </div>
        )}
        {canAdmin && (
          <div className="row">
            <button className="btn primary" type="submit" disabled={busy}>
              {busy ? 'Saving…' : 'Save'}
            </button>
            {saved && (
              <span className="muted" role="status" data-testid="lifecycle-saved">
                {saved}
              </span>
            )}
          </div>
        )}
      </form>
    </section>
  )
}

function Encryption({ data, canAdmin, onChanged }: { data: ProjectSettingsData; canAdmin: boolean; onChanged: () => void }) {
  const enc = data.encryption
  const [confirming, setConfirming] = useState(false)
  const [understood, setUnderstood] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const opener = useRef<HTMLButtonElement>(null)

  function cancel() {
    setConfirming(false)
    setUnderstood(false)
    window.setTimeout(() => opener.current?.focus(), 0)
  }
  async function enable() {
    setBusy(true)
    setError(null)
    try {
      await api(adminPath(data.project_id, '/settings'), { method: 'PATCH', body: { encryption: true } })
      setConfirming(false)
      setUnderstood(false)
      onChanged()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'Escape' && !busy) {
      e.stopPropagation()
      cancel()
    }
  }
  return (
    <section className="card" aria-labelledby="encryption-title">
      <h2 id="encryption-title">Encryption at rest</h2>
      {!enc ? (
        <p className="muted">This server does not report encryption.</p>
      ) : (
        <div className="encryption-status" data-testid="encryption-status">
          {!enc.enabled && (
            <p>
              <span className="badge">off</span> This project's data is stored unencrypted.
            </p>
          )}
          {enc.enabled && enc.key_available && (
            <p>
              <span className="badge status-ok">on</span> New data files of this project are encrypted; the key-encryption key is available.
            </p>
          )}
          {enc.enabled && !enc.key_available && (
            <div className="error-box" role="alert">
              <span className="badge status-error">on · key unavailable</span>
              <span>
                Queries and ingest of this project answer 503 until the server has its key-encryption key again
                {enc.error ? `: ${enc.error}` : '.'}
              </span>
            </div>
          )}
        </div>
      )}
      <p className="muted small">
        Stored data files are encrypted with a key of this project, itself locked by the server's key-encryption key (KEK), which the operator
        keeps apart from the data directory. Data still being written (the last minutes) and the settings database are not encrypted.
      </p>
      {enc && !enc.enabled && !canAdmin && <p className="muted small">An owner or admin of the project can turn it on.</p>}
      {enc && !enc.enabled && canAdmin && !confirming && (
        <button
          type="button"
          className="btn"
          ref={opener}
          onClick={() => {
            setError(null)
            setConfirming(true)
          }}
        >
          Turn on encryption…
        </button>
      )}
      {confirming && (
        <div
          className="confirm-panel"
          role="alertdialog"
          aria-modal="false"
          aria-labelledby="encryption-confirm-title"
          aria-describedby="encryption-confirm-body"
          data-testid="encryption-confirm"
          onKeyDown={onKeyDown}
        >
          <h3 id="encryption-confirm-title">Turn on encryption at rest for {data.name}?</h3>
          <ul id="encryption-confirm-body">
            <li>
              <strong>This cannot be undone.</strong> Encryption cannot be turned off again: the project's encrypted files need their key for as long
              as they exist.
            </li>
            <li>
              <strong>Losing the key-encryption key (KEK) makes this project's stored data unreadable, for good.</strong> There is no recovery key.
              Keep copies of the KEK apart from the data directory and its backups.
            </li>
            <li>
              Data written from now on is encrypted; older files stay unencrypted until the server rewrites them (merging files, expiring
              data, or a deletion).
            </li>
          </ul>
          <label className="check">
            <input type="checkbox" checked={understood} onChange={(e) => setUnderstood(e.target.checked)} autoFocus />I understand that this cannot be
            undone and that losing the KEK makes the data unreadable
          </label>
          {error && (
            <div className="error-box" role="alert" data-testid="encryption-error">
              {error}
            </div>
          )}
          <div className="row">
            <button type="button" className="btn danger" disabled={!understood || busy} onClick={() => void enable()}>
              {busy ? 'Turning on…' : 'Turn on encryption'}
            </button>
            <button type="button" className="btn" onClick={cancel} disabled={busy}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </section>
  )
}
