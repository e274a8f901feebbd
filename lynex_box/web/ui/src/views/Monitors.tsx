// Synthetic monitors of the project: each with its schedule and last result, a form to create or edit one (HTTP
// endpoint or OpenAI-compatible model, assertions, an alert on failure), "run now", and the recent runs of the
// selected monitor, each linking to its trace. Owners and admins change and run; other roles read.
import { useState } from 'react'
import type { FormEvent } from 'react'
import { adminPath, api } from '../lib/api'
import { describeRun, describeSchedule, monitorBody, monitorFields } from '../lib/monitors'
import type { Monitor, MonitorFields, Run } from '../lib/monitors'
import { useInterval, useLoad } from '../lib/hooks'
import { useSession } from '../session'
import { EmptyState, ErrorBox, Link } from '../components/ui'
import { anyTime } from './Settings'

const REFRESH_MS = 10_000

function Result({ ok }: { ok: boolean | undefined }) {
  if (ok === undefined) return <span className="badge" title="not run yet">pending</span>
  return <span className={`badge ${ok ? 'status-ok' : 'status-error'}`} data-testid="monitor-result">{ok ? 'passing' : 'failing'}</span>
}

export function Monitors() {
  const { project, canAdmin } = useSession()
  const pid = project.project_id
  const monitors = useLoad(`monitors|${pid}`, (signal) => api<{ items: Monitor[] }>(adminPath(pid, '/monitors'), { signal }))
  const [editing, setEditing] = useState<Monitor | 'new' | null>(null)
  const [selected, setSelected] = useState<string | null>(null)
  const [lastRun, setLastRun] = useState<Run | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [confirm, setConfirm] = useState<string | null>(null)
  const [running, setRunning] = useState<string | null>(null)
  useInterval(monitors.reload, REFRESH_MS)
  const items = monitors.data?.items ?? []
  const shown = items.find((m) => m.id === selected) ?? null

  async function runNow(m: Monitor) {
    setError(null)
    setRunning(m.id)
    try {
      const run = await api<Run>(adminPath(pid, `/monitors/${encodeURIComponent(m.id)}/run`), { method: 'POST' })
      setLastRun(run)
      setSelected(m.id)
      monitors.reload()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setRunning(null)
    }
  }
  async function remove(id: string) {
    setError(null)
    try {
      await api(adminPath(pid, `/monitors/${encodeURIComponent(id)}`), { method: 'DELETE' })
      setConfirm(null)
      if (selected === id) setSelected(null)
      monitors.reload()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <div className="page">
      <header className="page-head">
        <h1>Monitors · {project.name}</h1>
        {canAdmin && editing === null && (
          <button type="button" className="btn primary" onClick={() => setEditing('new')}>
            New monitor
          </button>
        )}
      </header>
      {!canAdmin && (
        <p className="notice" data-testid="readonly-notice">
          Your role ({project.role}) can see monitors and their runs but not change or run them.
        </p>
      )}
      {canAdmin && editing !== null && (
        <MonitorForm
          pid={pid}
          monitor={editing === 'new' ? undefined : editing}
          onDone={() => {
            setEditing(null)
            monitors.reload()
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      {error && (
        <div className="error-box" role="alert">
          {error}
        </div>
      )}
      {lastRun && (
        <p className={`notice ${lastRun.ok ? '' : 'err'}`} data-testid="run-result">
          Run {lastRun.ok ? 'passed' : 'failed'}: {describeRun(lastRun)} ·{' '}
          <Link to={`/traces/${encodeURIComponent(lastRun.trace_id)}`} testId="run-trace-link">
            open its trace
          </Link>
        </p>
      )}
      <section className="card">
        <h2>Monitors</h2>
        {monitors.error && <ErrorBox error={monitors.error} onRetry={monitors.reload} />}
        {monitors.data && items.length === 0 && (
          <EmptyState title="No monitors yet" testId="monitors-empty">
            <p>A synthetic monitor calls an endpoint of your app or a model on a schedule, checks the answer and records each run as a trace; it can alert when runs fail.</p>
          </EmptyState>
        )}
        {items.length > 0 && (
          <table className="table" data-testid="monitors-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Target</th>
                <th>Schedule</th>
                <th>Last result</th>
                <th>Last run</th>
                <th>Alerts</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((m) => (
                <tr key={m.id} data-testid="monitor-row" data-monitor-id={m.id} className={selected === m.id ? 'selected' : ''}>
                  <td>
                    <button type="button" className="linklike" onClick={() => setSelected(m.id)}>
                      {m.name}
                    </button>
                    {!m.enabled && <span className="badge">disabled</span>}
                  </td>
                  <td className="small mono">
                    {m.target.type === 'http' ? `${m.target.method} ${m.target.url}` : `${m.target.model} @ ${m.target.base_url}`}
                  </td>
                  <td className="small">{describeSchedule(m)}</td>
                  <td>
                    <Result ok={m.last_run?.ok} />
                    {m.last_run && !m.last_run.ok && m.last_run.error && <div className="small err">{m.last_run.error}</div>}
                  </td>
                  <td className="small">
                    {m.last_run ? (
                      <Link to={`/traces/${encodeURIComponent(m.last_run.trace_id)}`}>{anyTime(m.last_run.started_at)}</Link>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td className="small">{m.rule_ids.length ? <Link to="/alerts">{m.rule_ids.length} rule(s)</Link> : <span className="muted">none</span>}</td>
                  <td className="num">
                    {canAdmin &&
                      (confirm === m.id ? (
                        <>
                          <button type="button" className="btn small danger" onClick={() => void remove(m.id)}>
                            Confirm delete
                          </button>{' '}
                          <button type="button" className="btn small" onClick={() => setConfirm(null)}>
                            Cancel
                          </button>
                        </>
                      ) : (
                        <>
                          <button type="button" className="btn small" disabled={running === m.id} onClick={() => void runNow(m)}>
                            {running === m.id ? 'Running…' : 'Run now'}
                          </button>{' '}
                          <button type="button" className="btn small" onClick={() => setEditing(m)}>
                            Edit
                          </button>{' '}
                          <button type="button" className="btn small" onClick={() => setConfirm(m.id)}>
                            Delete
                          </button>
                        </>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {shown && <Runs pid={pid} monitor={shown} version={lastRun?.id ?? ''} />}
    </div>
  )
}

function Runs({ pid, monitor, version }: { pid: string; monitor: Monitor; version: string }) {
  const runs = useLoad(`monitor-runs|${pid}|${monitor.id}|${version}|${monitor.last_run?.started_at ?? ''}`, (signal) =>
    api<{ items: Run[] }>(adminPath(pid, `/monitors/${encodeURIComponent(monitor.id)}/runs`), { signal, query: { limit: 20 } }),
  )
  return (
    <section className="card">
      <h2>Recent runs · {monitor.name}</h2>
      {runs.error && <ErrorBox error={runs.error} onRetry={runs.reload} />}
      {runs.data && runs.data.items.length === 0 && <p className="muted">No run yet.</p>}
      {runs.data && runs.data.items.length > 0 && (
        <table className="table" data-testid="runs-table">
          <thead>
            <tr>
              <th>When</th>
              <th>Result</th>
              <th className="num">Latency</th>
              <th>Failed assertions</th>
              <th>Trace</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.items.map((r) => (
              <tr key={r.id} data-testid="run-row">
                <td className="small">
                  {anyTime(r.started_at)}
                  {r.manual && <span className="muted"> · run now</span>}
                </td>
                <td>
                  <Result ok={r.ok} />
                </td>
                <td className="num">{Math.round(r.latency_ms)} ms</td>
                <td className="small">{r.failed.map((a) => `${a.type}: ${a.detail}`).join('; ')}</td>
                <td className="small">
                  <Link to={`/traces/${encodeURIComponent(r.trace_id)}`} testId="run-trace">
                    {r.trace_id.slice(0, 12)}…
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function MonitorForm({ pid, monitor, onDone, onCancel }: { pid: string; monitor?: Monitor; onDone: () => void; onCancel: () => void }) {
  const [f, setF] = useState<MonitorFields>(() => monitorFields(monitor))
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const set = (patch: Partial<MonitorFields>) => setF((old) => ({ ...old, ...patch }))

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const out = monitorBody(f, monitor)
    if ('error' in out) {
      setError(out.error)
      return
    }
    setBusy(true)
    setError(null)
    try {
      const path = monitor ? `/monitors/${encodeURIComponent(monitor.id)}` : '/monitors'
      await api(adminPath(pid, path), { method: monitor ? 'PATCH' : 'POST', body: out.body })
      onDone()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  const text = f.kind === 'model' ? 'answer' : 'body'
  return (
    <section className="card">
      <form className="form" onSubmit={submit} aria-label={monitor ? 'Edit monitor' : 'New monitor'} data-testid="monitor-form">
        <h2>{monitor ? `Edit ${monitor.name}` : 'New monitor'}</h2>
        {error && (
          <div className="error-box" role="alert">
            {error}
          </div>
        )}
        <div className="row">
          <label>
            Monitor name
            <input value={f.name} onChange={(e) => set({ name: e.target.value })} required maxLength={200} />
          </label>
          <label>
            Target
            <select value={f.kind} onChange={(e) => set({ kind: e.target.value as MonitorFields['kind'] })}>
              <option value="http">HTTP endpoint of your app</option>
              <option value="model">OpenAI-compatible model</option>
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={f.enabled} onChange={(e) => set({ enabled: e.target.checked })} /> Enabled
          </label>
        </div>
        {f.kind === 'http' ? (
          <div className="row">
            <label>
              Method
              <select value={f.method} onChange={(e) => set({ method: e.target.value })}>
                {['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </label>
            <label>
              URL
              <input value={f.url} onChange={(e) => set({ url: e.target.value })} placeholder="https://app.example.com/health" required />
            </label>
            <label>
              Body <span className="muted small">(template: {'{{run_id}}'})</span>
              <input value={f.body} onChange={(e) => set({ body: e.target.value })} />
            </label>
          </div>
        ) : (
          <>
            <div className="row">
              <label>
                Base URL
                <input value={f.baseUrl} onChange={(e) => set({ baseUrl: e.target.value })} placeholder="https://api.openai.com/v1" required />
              </label>
              <label>
                Model
                <input value={f.model} onChange={(e) => set({ model: e.target.value })} required />
              </label>
              <label>
                API key <span className="muted small">{monitor?.target.api_key_set ? '(stored; type to replace)' : ''}</span>
                <input type="password" autoComplete="new-password" value={f.apiKey} onChange={(e) => set({ apiKey: e.target.value })} />
              </label>
            </div>
            <div className="row">
              <label>
                System message
                <input value={f.system} onChange={(e) => set({ system: e.target.value })} />
              </label>
              <label>
                Prompt
                <input value={f.prompt} onChange={(e) => set({ prompt: e.target.value })} required />
              </label>
            </div>
          </>
        )}
        <div className="row">
          <label>
            Headers <span className="muted small">({monitor?.target.header_names.length ? `stored: ${monitor.target.header_names.join(', ')}; type to replace` : 'Name: value, one a line'})</span>
            <textarea rows={2} value={f.headers} onChange={(e) => set({ headers: e.target.value })} />
          </label>
          <label>
            Every <span className="muted small">(e.g. 5m)</span>
            <input value={f.interval} onChange={(e) => set({ interval: e.target.value })} required />
          </label>
          <label>
            Timeout (s)
            <input value={f.timeout} onChange={(e) => set({ timeout: e.target.value })} inputMode="decimal" required />
          </label>
        </div>
        <h3>Assertions</h3>
        <div className="row">
          <label>
            Status equals <span className="muted small">(empty: any status under 400)</span>
            <input value={f.status} onChange={(e) => set({ status: e.target.value })} inputMode="numeric" />
          </label>
          <label>
            Latency at most (ms)
            <input value={f.maxLatency} onChange={(e) => set({ maxLatency: e.target.value })} inputMode="numeric" />
          </label>
        </div>
        <div className="row">
          <label>
            {text === 'answer' ? 'Answer' : 'Body'} contains
            <input value={f.contains} onChange={(e) => set({ contains: e.target.value })} />
          </label>
          <label>
            {text === 'answer' ? 'Answer' : 'Body'} matches <span className="muted small">(regular expression)</span>
            <input value={f.matches} onChange={(e) => set({ matches: e.target.value })} />
          </label>
        </div>
        {f.kind === 'http' && (
          <div className="row">
            <label>
              JSON path <span className="muted small">(e.g. $.items[0].id)</span>
              <input value={f.jsonPath} onChange={(e) => set({ jsonPath: e.target.value })} />
            </label>
            <label>
              Expected JSON value <span className="muted small">(7, "ok", true)</span>
              <input value={f.jsonEquals} onChange={(e) => set({ jsonEquals: e.target.value })} />
            </label>
          </div>
        )}
        <h3>Alert</h3>
        <div className="row">
          <label className="check">
            <input type="checkbox" checked={f.alertOnFailure} onChange={(e) => set({ alertOnFailure: e.target.checked })} /> Alert when a run fails
          </label>
          <label>
            Alert when slower than (ms)
            <input value={f.alertLatency} onChange={(e) => set({ alertLatency: e.target.value })} inputMode="numeric" />
          </label>
          <label>
            Webhook URL <span className="muted small">{monitor?.rule_ids.length ? '(type one to replace the linked rules)' : '(optional)'}</span>
            <input value={f.webhook} onChange={(e) => set({ webhook: e.target.value })} placeholder="https://" />
          </label>
        </div>
        <div className="row">
          <button className="btn primary" type="submit" disabled={busy}>
            {monitor ? 'Save monitor' : 'Create monitor'}
          </button>
          <button className="btn" type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  )
}
