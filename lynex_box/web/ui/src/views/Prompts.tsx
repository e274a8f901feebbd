// Prompts: names and versions seen in spans or registered, each version's metrics, and a side-by-side
// diff of two versions' templates. Registering a version stores its text (immutable) on the server.
import { useMemo, useState } from 'react'
import type { FormEvent } from 'react'
import { api, projectPath } from '../lib/api'
import { diffStats, sideBySide } from '../lib/diff'
import type { Row, Segment, Side } from '../lib/diff'
import { fmtCost, fmtDuration, fmtInt, fmtPercent, fmtTime } from '../lib/format'
import { useLoad } from '../lib/hooks'
import { setParams, useLocation } from '../lib/router'
import { boundsOf } from '../lib/timerange'
import { rangeKey, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { EmptyState, ErrorBox } from '../components/ui'
import { TimeRangePicker } from '../components/TimeRangePicker'

export interface PromptVersion {
  name: string
  version: string
  registered: boolean
  template?: string
  created_at?: number
  count: number
  errors: number
  error_rate: number | null
  input_tokens: number
  output_tokens: number
  total_cost: number
  avg_cost: number | null
  avg_ms: number | null
  p50_ms: number | null
  p95_ms: number | null
  first_seen: string | null
  last_seen: string | null
}

export function Prompts() {
  const { project, canWrite } = useSession()
  const loc = useLocation()
  const { range, setRange } = useTimeRange()
  const rkey = rangeKey(range)
  const name = loc.params.get('name')
  const b = useMemo(() => boundsOf(range, Date.now()), [rkey]) // eslint-disable-line react-hooks/exhaustive-deps
  const pid = project.project_id
  const [tick, setTick] = useState(0)
  const list = useLoad(`${pid}|${rkey}|${tick}`, (signal) =>
    api<{ items: PromptVersion[] }>(projectPath(pid, '/prompts'), { query: { from: b.from, to: b.to }, signal }),
  )
  const names = useMemo(() => {
    const byName = new Map<string, { versions: number; count: number; cost: number }>()
    for (const v of list.data?.items ?? []) {
      const e = byName.get(v.name) ?? { versions: 0, count: 0, cost: 0 }
      e.versions++
      e.count += v.count
      e.cost += v.total_cost
      byName.set(v.name, e)
    }
    return [...byName.entries()]
  }, [list.data])
  const current = name ?? names[0]?.[0] ?? null

  return (
    <div className="page">
      <header className="page-head">
        <h1>Prompts</h1>
        <div className="toolbar">
          <TimeRangePicker value={range} onChange={setRange} />
        </div>
      </header>
      {list.error && <ErrorBox error={list.error} onRetry={list.reload} />}
      {list.data && names.length === 0 ? (
        <EmptyState title="No prompts yet" testId="prompts-empty">
          <p>
            Send <code>{'"prompt": {"name": "qa", "version": 3}'}</code> with your events to see each version's cost, latency and errors,
            and register a version's template text to compare versions.
          </p>
          {canWrite && <RegisterForm pid={pid} onDone={() => setTick((t) => t + 1)} />}
        </EmptyState>
      ) : (
        <div className="prompts-layout">
          <aside className="card prompt-names" aria-label="Prompt names">
            {names.map(([n, e]) => (
              <button key={n} type="button" className={`facet-item ${n === current ? 'active' : ''}`} onClick={() => setParams({ name: n, a: null, b: null })}>
                <span className="ellipsis">{n}</span>
                <span className="muted small">
                  {e.versions} v · {fmtInt(e.count)}
                </span>
              </button>
            ))}
          </aside>
          {current && <PromptDetail key={`${current}|${tick}`} pid={pid} name={current} from={b.from} to={b.to} onRegistered={() => setTick((t) => t + 1)} />}
        </div>
      )}
    </div>
  )
}

function PromptDetail({ pid, name, from, to, onRegistered }: { pid: string; name: string; from: number; to: number; onRegistered: () => void }) {
  const { canWrite } = useSession()
  const loc = useLocation()
  const res = useLoad(`${pid}|${name}|${from}|${to}`, (signal) =>
    api<{ items: PromptVersion[] }>(projectPath(pid, `/prompts/${encodeURIComponent(name)}/versions`), { query: { from, to }, signal }),
  )
  const versions = res.data?.items ?? []
  const withText = versions.filter((v) => v.template !== undefined)
  const a = loc.params.get('a') ?? withText[withText.length - 2]?.version ?? versions[0]?.version
  const b = loc.params.get('b') ?? withText[withText.length - 1]?.version ?? versions[versions.length - 1]?.version
  const va = versions.find((v) => v.version === a)
  const vb = versions.find((v) => v.version === b)
  return (
    <div className="prompt-detail">
      <section className="card">
        <h2>{name}</h2>
        {res.error && <ErrorBox error={res.error} onRetry={res.reload} />}
        <table className="table" data-testid="prompt-versions">
          <thead>
            <tr>
              <th>A</th>
              <th>B</th>
              <th>Version</th>
              <th className="num">Requests</th>
              <th className="num">Error rate</th>
              <th className="num">Avg cost</th>
              <th className="num">Total cost</th>
              <th className="num">p50</th>
              <th className="num">p95</th>
              <th>Last seen</th>
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.version} className={v.version === a || v.version === b ? 'selected' : ''}>
                <td>
                  <input type="radio" name="a" aria-label={`Compare from version ${v.version}`} checked={v.version === a} onChange={() => setParams({ a: v.version })} />
                </td>
                <td>
                  <input type="radio" name="b" aria-label={`Compare to version ${v.version}`} checked={v.version === b} onChange={() => setParams({ b: v.version })} />
                </td>
                <td>
                  v{v.version} {v.registered ? <span className="badge">registered</span> : <span className="muted small">seen only</span>}
                </td>
                <td className="num">{fmtInt(v.count)}</td>
                <td className="num">{v.count ? fmtPercent(v.error_rate) : '—'}</td>
                <td className="num">{fmtCost(v.avg_cost)}</td>
                <td className="num">{fmtCost(v.total_cost)}</td>
                <td className="num">{fmtDuration(v.p50_ms)}</td>
                <td className="num">{fmtDuration(v.p95_ms)}</td>
                <td className="mono small">{fmtTime(v.last_seen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {va && vb && <DiffView a={va} b={vb} />}
      {canWrite && (
        <details className="card">
          <summary>Register a version of {name}</summary>
          <RegisterForm pid={pid} name={name} onDone={onRegistered} />
        </details>
      )}
    </div>
  )
}

function DiffView({ a, b }: { a: PromptVersion; b: PromptVersion }) {
  const rows = useMemo(() => sideBySide(a.template ?? '', b.template ?? ''), [a.template, b.template])
  const stats = diffStats(rows)
  const missing = [a, b].filter((v) => v.template === undefined)
  return (
    <section className="card" aria-label="Prompt diff">
      <div className="card-head">
        <h2>
          v{a.version} → v{b.version}
        </h2>
        <span className="muted small" data-testid="diff-stats">
          {stats.changed} changed · {stats.added} added · {stats.removed} removed
        </span>
      </div>
      <div className="diff-metrics">
        <Delta label="Avg cost" a={a.avg_cost} b={b.avg_cost} fmt={fmtCost} />
        <Delta label="p50 latency" a={a.p50_ms} b={b.p50_ms} fmt={fmtDuration} />
        <Delta label="Error rate" a={a.error_rate} b={b.error_rate} fmt={(v) => fmtPercent(v)} />
        <Delta label="Requests" a={a.count} b={b.count} fmt={fmtInt} neutral />
      </div>
      {missing.length > 0 && (
        <p className="muted">
          {missing.map((v) => `v${v.version}`).join(' and ')} {missing.length > 1 ? 'have' : 'has'} no registered text: register it to see the diff.
        </p>
      )}
      <div className="diff" data-testid="prompt-diff" role="table">
        <div className="diff-head">
          <div>v{a.version}</div>
          <div>v{b.version}</div>
        </div>
        {rows.map((r, i) => (
          <DiffRow key={i} row={r} />
        ))}
      </div>
    </section>
  )
}

function DiffRow({ row }: { row: Row }) {
  return (
    <div className={`diff-row diff-${row.kind}`} role="row">
      <DiffCell side={row.left} cls={row.kind === 'equal' ? '' : 'del'} />
      <DiffCell side={row.right} cls={row.kind === 'equal' ? '' : 'ins'} />
    </div>
  )
}

function DiffCell({ side, cls }: { side: Side; cls: string }) {
  if (!side) return <div className="diff-cell empty" role="cell" />
  return (
    <div className={`diff-cell ${cls}`} role="cell" data-testid={cls ? `diff-${cls}` : undefined}>
      <span className="ln">{side.line}</span>
      <span className="diff-text">{side.segments ? side.segments.map((s: Segment, i) => (s.changed ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>)) : side.text || ' '}</span>
    </div>
  )
}

function Delta({ label, a, b, fmt, neutral }: { label: string; a: number | null; b: number | null; fmt: (v: number | null) => string; neutral?: boolean }) {
  const change = a !== null && b !== null && a !== 0 ? (b - a) / Math.abs(a) : null
  const cls = neutral || change === null || Math.abs(change) < 0.005 ? '' : change > 0 ? 'worse' : 'better'
  return (
    <div className="delta">
      <div className="muted small">{label}</div>
      <div>
        {fmt(a)} → <strong>{fmt(b)}</strong>
        {change !== null && <span className={`delta-pct ${cls}`}> {change > 0 ? '+' : ''}{(change * 100).toFixed(0)}%</span>}
      </div>
    </div>
  )
}

function RegisterForm({ pid, name, onDone }: { pid: string; name?: string; onDone: () => void }) {
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const version = String(form.get('version') ?? '').trim()
    setBusy(true)
    setError(null)
    try {
      await api(projectPath(pid, '/prompts'), {
        method: 'POST',
        body: { name: String(form.get('name') ?? name ?? ''), template: String(form.get('template') ?? ''), ...(version ? { version } : {}) },
      })
      onDone()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form className="form" onSubmit={submit} aria-label="Register a prompt version">
      {error && <div className="error-box">{error}</div>}
      <div className="row">
        <label>
          Name
          <input name="name" defaultValue={name ?? ''} required readOnly={!!name} />
        </label>
        <label>
          Version <span className="muted small">(empty: next number)</span>
          <input name="version" />
        </label>
      </div>
      <label>
        Template
        <textarea name="template" rows={8} required className="mono" />
      </label>
      <button className="btn primary" type="submit" disabled={busy}>
        Register version
      </button>
    </form>
  )
}
