// Alert rules of the project with their state, recent firings and deliveries. Owners and admins create, edit,
// test and delete rules; members and viewers see the same lists read-only. Channel URLs and secrets go to the
// server and never come back: an edited rule keeps its stored channels unless they are removed.
import { useState } from 'react'
import type { FormEvent } from 'react'
import { adminPath, api } from '../lib/api'
import {
  COMPARISONS,
  FALLBACK_CHANNEL_TYPES,
  METRICS,
  describeRule,
  fmtMetricValue,
  fmtSeconds,
  hasOwnInputs,
  ruleBody,
  ruleFields,
} from '../lib/alerts'
import type { ChannelField, ChannelFormField, ChannelType, Rule, RuleFields } from '../lib/alerts'
import { useInterval, useLoad } from '../lib/hooks'
import { useSession } from '../session'
import { EmptyState, ErrorBox } from '../components/ui'
import { anyTime } from './Settings'

interface Firing {
  id: string
  rule_id: string
  rule_name: string
  state: 'firing' | 'resolved'
  value: number | null
  threshold: number
  started_at: number
  resolved_at: number | null
  resolved_value: number | null
}

interface Delivery {
  id: string
  rule_id: string
  channel_type: string
  event: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  response_status: number | null
  last_error: string | null
  created_at: number
}

interface TestResult {
  channel_id: string
  channel_type: string
  status: string
  error: string | null
}

const REFRESH_MS = 10_000

export function Alerts() {
  const { project, canAdmin } = useSession()
  const pid = project.project_id
  const rules = useLoad(`alert-rules|${pid}`, (signal) => api<{ items: Rule[] }>(adminPath(pid, '/alerts/rules'), { signal }))
  const firings = useLoad(`alert-firings|${pid}`, (signal) =>
    api<{ items: Firing[] }>(adminPath(pid, '/alerts/firings'), { signal, query: { limit: 20 } }),
  )
  const deliveries = useLoad(`alert-deliveries|${pid}`, (signal) =>
    api<{ items: Delivery[] }>(adminPath(pid, '/alerts/deliveries'), { signal, query: { limit: 20 } }),
  )
  const [editing, setEditing] = useState<Rule | 'new' | null>(null)
  const reload = () => {
    rules.reload()
    firings.reload()
    deliveries.reload()
  }
  useInterval(reload, REFRESH_MS)
  const byId = new Map((rules.data?.items ?? []).map((r) => [r.id, r]))
  return (
    <div className="page">
      <header className="page-head">
        <h1>Alerts · {project.name}</h1>
        {canAdmin && editing === null && (
          <button type="button" className="btn primary" onClick={() => setEditing('new')}>
            New alert rule
          </button>
        )}
      </header>
      {!canAdmin && (
        <p className="notice" data-testid="readonly-notice">
          Your role ({project.role}) can see alert rules but not change them.
        </p>
      )}
      {canAdmin && editing !== null && (
        <RuleForm
          pid={pid}
          rule={editing === 'new' ? undefined : editing}
          onDone={() => {
            setEditing(null)
            reload()
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      <section className="card">
        <h2>Rules</h2>
        {rules.error && <ErrorBox error={rules.error} onRetry={rules.reload} />}
        {rules.data && rules.data.items.length === 0 && (
          <EmptyState title="No alert rules yet" testId="alerts-empty">
            <p>A rule watches a metric of this project's spans (error rate, errors, cost, latency, tokens) over a window and notifies a webhook, Slack or email when it crosses a threshold.</p>
          </EmptyState>
        )}
        {rules.data && rules.data.items.length > 0 && (
          <RulesTable rules={rules.data.items} pid={pid} canAdmin={canAdmin} onEdit={setEditing} onChanged={reload} />
        )}
      </section>
      <section className="card">
        <h2>Recent firings</h2>
        {firings.error && <ErrorBox error={firings.error} onRetry={firings.reload} />}
        {firings.data && firings.data.items.length === 0 && <p className="muted">No rule has fired yet.</p>}
        {firings.data && firings.data.items.length > 0 && (
          <table className="table" data-testid="firings-table">
            <thead>
              <tr>
                <th>Rule</th>
                <th>State</th>
                <th className="num">Value</th>
                <th>Started</th>
                <th>Resolved</th>
              </tr>
            </thead>
            <tbody>
              {firings.data.items.map((f) => {
                const metric = byId.get(f.rule_id)?.metric ?? ''
                return (
                  <tr key={f.id} data-testid="firing-row">
                    <td>{f.rule_name}</td>
                    <td>
                      <span className={`badge ${f.state === 'firing' ? 'status-error' : 'status-ok'}`}>{f.state}</span>
                    </td>
                    <td className="num">{fmtMetricValue(metric, f.value)}</td>
                    <td className="small">{anyTime(f.started_at)}</td>
                    <td className="small">{anyTime(f.resolved_at)}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        )}
      </section>
      <section className="card">
        <h2>Recent deliveries</h2>
        {deliveries.error && <ErrorBox error={deliveries.error} onRetry={deliveries.reload} />}
        {deliveries.data && deliveries.data.items.length === 0 && <p className="muted">No notification has been sent yet.</p>}
        {deliveries.data && deliveries.data.items.length > 0 && (
          <table className="table" data-testid="deliveries-table">
            <thead>
              <tr>
                <th>Rule</th>
                <th>Event</th>
                <th>Channel</th>
                <th>Status</th>
                <th className="num">Attempts</th>
                <th>Error</th>
                <th>When</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.data.items.map((d) => (
                <tr key={d.id}>
                  <td>{byId.get(d.rule_id)?.name ?? d.rule_id}</td>
                  <td>{d.event}</td>
                  <td>{d.channel_type}</td>
                  <td>
                    <span className={`badge ${d.status === 'failed' ? 'status-error' : d.status === 'delivered' ? 'status-ok' : ''}`}>{d.status}</span>
                  </td>
                  <td className="num">{d.attempts}</td>
                  <td className="small">{d.last_error ?? ''}</td>
                  <td className="small">{anyTime(d.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  )
}

function RulesTable({ rules, pid, canAdmin, onEdit, onChanged }: { rules: Rule[]; pid: string; canAdmin: boolean; onEdit: (r: Rule) => void; onChanged: () => void }) {
  const [confirm, setConfirm] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [tested, setTested] = useState<{ ruleId: string; results: TestResult[] } | null>(null)
  async function remove(id: string) {
    setError(null)
    try {
      await api(adminPath(pid, `/alerts/rules/${encodeURIComponent(id)}`), { method: 'DELETE' })
      setConfirm(null)
      onChanged()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  async function test(id: string) {
    setError(null)
    try {
      const res = await api<{ items: TestResult[] }>(adminPath(pid, `/alerts/rules/${encodeURIComponent(id)}/test`), { method: 'POST' })
      setTested({ ruleId: id, results: res.items })
      onChanged()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <>
      {error && (
        <div className="error-box" role="alert">
          {error}
        </div>
      )}
      <table className="table" data-testid="alerts-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Condition</th>
            <th>State</th>
            <th className="num">Last value</th>
            <th>Checked</th>
            <th>Channels</th>
            {canAdmin && <th />}
          </tr>
        </thead>
        <tbody>
          {rules.map((r) => (
            <tr key={r.id} data-testid="alert-row" data-rule-id={r.id}>
              <td>{r.name}</td>
              <td className="small">
                {describeRule(r)} <span className="muted">· every {fmtSeconds(r.interval_s)}</span>
              </td>
              <td>
                {!r.enabled ? (
                  <span className="badge">disabled</span>
                ) : r.last_evaluated_at === null ? (
                  <span className="badge" title="not evaluated yet">pending</span>
                ) : (
                  <span className={`badge ${r.state === 'firing' ? 'status-error' : 'status-ok'}`} data-testid="alert-state">
                    {r.state}
                  </span>
                )}
                {r.last_error && (
                  <div className="small err" title={r.last_error}>
                    evaluation failed
                  </div>
                )}
              </td>
              <td className="num">{fmtMetricValue(r.metric, r.last_value)}</td>
              <td className="small">{anyTime(r.last_evaluated_at)}</td>
              <td className="small">
                {r.channels.length === 0 ? <span className="muted">none</span> : r.channels.map((c) => c.type).join(', ')}
                {tested?.ruleId === r.id && (
                  <div data-testid="test-results">
                    {tested.results.map((t) => (
                      <div key={t.channel_id}>
                        {t.channel_type}: {t.status}
                        {t.error ? ` (${t.error})` : ''}
                      </div>
                    ))}
                  </div>
                )}
              </td>
              {canAdmin && (
                <td className="num">
                  {confirm === r.id ? (
                    <>
                      <button type="button" className="btn small danger" onClick={() => void remove(r.id)}>
                        Confirm delete
                      </button>{' '}
                      <button type="button" className="btn small" onClick={() => setConfirm(null)}>
                        Cancel
                      </button>
                    </>
                  ) : (
                    <>
                      <button type="button" className="btn small" onClick={() => onEdit(r)}>
                        Edit
                      </button>{' '}
                      <button type="button" className="btn small" disabled={r.channels.length === 0} onClick={() => void test(r.id)}>
                        Test
                      </button>{' '}
                      <button type="button" className="btn small" onClick={() => setConfirm(r.id)}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}

function RuleForm({ pid, rule, onDone, onCancel }: { pid: string; rule?: Rule; onDone: () => void; onCancel: () => void }) {
  const [f, setF] = useState<RuleFields>(() => ruleFields(rule))
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const set = (patch: Partial<RuleFields>) => setF((old) => ({ ...old, ...patch }))
  const setChannel = (i: number, patch: Partial<ChannelField>) => set({ channels: f.channels.map((c, j) => (j === i ? { ...c, ...patch } : c)) })
  const stored = new Map((rule?.channels ?? []).map((c) => [c.id, c]))
  // the channel types are the server's loaded channel plugins; the three built-in ones if they cannot be listed
  const listed = useLoad(`alert-channel-types|${pid}`, (signal) =>
    api<{ items: ChannelType[] }>(adminPath(pid, '/alerts/channel-types'), { signal }),
  )
  const types = listed.data?.items ?? FALLBACK_CHANNEL_TYPES
  const setValue = (i: number, name: string, value: string) =>
    setChannel(i, { values: { ...(f.channels[i].values ?? {}), [name]: value } })

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const out = ruleBody(f, types)
    if ('error' in out) {
      setError(out.error)
      return
    }
    setBusy(true)
    setError(null)
    try {
      const path = rule ? `/alerts/rules/${encodeURIComponent(rule.id)}` : '/alerts/rules'
      await api(adminPath(pid, path), { method: rule ? 'PATCH' : 'POST', body: out.body })
      onDone()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section className="card">
      <form className="form alert-form" onSubmit={submit} aria-label={rule ? 'Edit alert rule' : 'New alert rule'} data-testid="alert-form">
        <h2>{rule ? `Edit ${rule.name}` : 'New alert rule'}</h2>
        {error && (
          <div className="error-box" role="alert">
            {error}
          </div>
        )}
        <div className="row">
          <label>
            Rule name
            <input value={f.name} onChange={(e) => set({ name: e.target.value })} required maxLength={512} />
          </label>
          <label className="check">
            <input type="checkbox" checked={f.enabled} onChange={(e) => set({ enabled: e.target.checked })} /> Enabled
          </label>
        </div>
        <div className="row">
          <label>
            Metric
            <select value={f.metric} onChange={(e) => set({ metric: e.target.value as RuleFields['metric'] })}>
              {METRICS.map(([m, label]) => (
                <option key={m} value={m}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Comparison
            <select value={f.comparison} onChange={(e) => set({ comparison: e.target.value as RuleFields['comparison'] })}>
              {COMPARISONS.map(([c, label]) => (
                <option key={c} value={c}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Threshold{f.metric === 'error_rate' ? ' (%)' : ''}
            <input value={f.threshold} onChange={(e) => set({ threshold: e.target.value })} inputMode="decimal" required />
          </label>
        </div>
        <div className="row">
          <label>
            Window <span className="muted small">(e.g. 5m)</span>
            <input value={f.window} onChange={(e) => set({ window: e.target.value })} required />
          </label>
          <label>
            Check every
            <input value={f.interval} onChange={(e) => set({ interval: e.target.value })} required />
          </label>
          <label>
            Re-notify while firing <span className="muted small">(empty = never)</span>
            <input value={f.renotify} onChange={(e) => set({ renotify: e.target.value })} />
          </label>
        </div>
        <div className="row">
          <label>
            Only model
            <input value={f.model} onChange={(e) => set({ model: e.target.value })} />
          </label>
          <label>
            Only span name
            <input value={f.spanName} onChange={(e) => set({ spanName: e.target.value })} />
          </label>
          <label>
            Only environment
            <input value={f.environment} onChange={(e) => set({ environment: e.target.value })} />
          </label>
        </div>
        <h3>Channels</h3>
        {f.channels.length === 0 && <p className="muted small">No channel: the rule's state is shown here only.</p>}
        {f.channels.map((c, i) => (
          <div className="row" key={c.id ?? `new-${i}`} data-testid="channel-fields">
            {c.id ? (
              <span className="small">
                {c.type} · <span className="mono">{stored.get(c.id)?.target ?? stored.get(c.id)?.to?.join(', ')}</span>
                {stored.get(c.id)?.signed ? ' · signed' : ''}
                {stored.get(c.id)?.severity ? ` · ${stored.get(c.id)?.severity}` : ''}
                {stored.get(c.id)?.priority ? ` · ${stored.get(c.id)?.priority}` : ''} <span className="muted">(kept as stored)</span>
              </span>
            ) : (
              <>
                <label>
                  Channel type
                  <select value={c.type} onChange={(e) => setChannel(i, { type: e.target.value, values: {} })}>
                    {types
                      .filter((t) => t.available || t.type === c.type)
                      .map((t) => (
                        <option key={t.type} value={t.type}>
                          {t.label}
                        </option>
                      ))}
                  </select>
                </label>
                {!hasOwnInputs(c.type) ? (
                  (types.find((t) => t.type === c.type)?.fields ?? []).map((field) => (
                    <PluginInput key={field.name} field={field} value={c.values?.[field.name]} onChange={(v) => setValue(i, field.name, v)} />
                  ))
                ) : c.type === 'email' ? (
                  <label>
                    Recipients
                    <input value={c.to ?? ''} onChange={(e) => setChannel(i, { to: e.target.value })} placeholder="ops@example.com" />
                  </label>
                ) : (
                  <label>
                    Channel URL
                    <input value={c.url ?? ''} onChange={(e) => setChannel(i, { url: e.target.value })} placeholder="https://" />
                  </label>
                )}
                {c.type === 'webhook' && (
                  <label>
                    Signing secret <span className="muted small">(optional, 16+ characters)</span>
                    <input type="password" autoComplete="new-password" value={c.secret ?? ''} onChange={(e) => setChannel(i, { secret: e.target.value })} />
                  </label>
                )}
              </>
            )}
            <button type="button" className="btn small" onClick={() => set({ channels: f.channels.filter((_, j) => j !== i) })}>
              Remove channel
            </button>
          </div>
        ))}
        <div className="row">
          <button type="button" className="btn small" onClick={() => set({ channels: [...f.channels, { type: 'webhook' }] })}>
            Add channel
          </button>
        </div>
        <div className="row">
          <button className="btn primary" type="submit" disabled={busy}>
            {rule ? 'Save rule' : 'Create rule'}
          </button>
          <button className="btn" type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  )
}

/** One setting of a plugin channel type, as its `form` describes it. */
function PluginInput({ field, value, onChange }: { field: ChannelFormField; value?: string; onChange: (v: string) => void }) {
  if (field.kind === 'choice') {
    return (
      <label>
        {field.label}
        <select value={value ?? field.default ?? ''} onChange={(e) => onChange(e.target.value)}>
          {(field.choices ?? []).map((choice) => (
            <option key={choice} value={choice}>
              {choice}
            </option>
          ))}
        </select>
      </label>
    )
  }
  return (
    <label>
      {field.label}
      <input
        type={field.kind === 'secret' ? 'password' : 'text'}
        autoComplete={field.kind === 'secret' ? 'new-password' : undefined}
        value={value ?? ''}
        placeholder={field.placeholder ?? (field.kind === 'url' ? 'https://' : undefined)}
        required={field.required}
        onChange={(e) => onChange(e.target.value)}
      />
    </label>
  )
}
