// Every span, not only traces: the traces list's filters over the span list API (`fields=summary`), a virtualised
// table paged with cursors, columns of one's choice. A row opens its trace with the span selected.
import { useEffect, useMemo, useState } from 'react'
import type { FormEvent } from 'react'
import { api, projectPath } from '../lib/api'
import { ALL_FILTERS, FILTER_LABELS } from '../lib/filters'
import type { FilterKey } from '../lib/filters'
import { fmtCompact, fmtCost, fmtDuration, fmtInt, fmtTime, shortId } from '../lib/format'
import { useLoad, useStored } from '../lib/hooks'
import { LLM_CALL } from '../lib/kinds'
import type { MetricsResponse } from '../lib/metrics'
import { navigate, setParams, useLocation } from '../lib/router'
import { formChanges, readSpanFilters, SPAN_KINDS, spanFiltersKey, spanQuery } from '../lib/spanFilters'
import { rangeBounds } from '../lib/timerange'
import { useSession } from '../session'
import { ColumnsMenu } from '../components/ColumnsMenu'
import { PagedTable, usePaged } from '../components/PagedTable'
import type { Col } from '../components/PagedTable'
import { Link, RangePicker, StatusBadge } from '../components/ui'

export interface SpanRow {
  event_id: string
  trace_id: string
  span_id: string
  parent_span_id: string | null
  name: string | null
  kind: string | null
  start_time: string
  duration_ms: number | null
  status: string | null
  provider: string | null
  model: string | null
  input_tokens: number | null
  output_tokens: number | null
  total_cost: number | null
  user_id: string | null
  session_id: string | null
  environment: string | null
}

const text = (v: string | null, mono = false, full?: string) => (
  <span className={`ellipsis ${mono ? 'mono small' : ''}`} title={full ?? v ?? undefined}>
    {v ?? '—'}
  </span>
)

const COLUMNS: Col<SpanRow>[] = [
  { key: 'time', label: 'Time', width: '160px', render: (r) => <span className="mono small">{fmtTime(r.start_time)}</span> },
  { key: 'name', label: 'Name', width: 'minmax(160px, 2fr)', render: (r) => text(r.name ?? '(unnamed)') },
  { key: 'kind', label: 'Kind', width: '84px', render: (r) => <span className={`kind kind-${r.kind ?? 'span'}`}>{r.kind ?? 'span'}</span> },
  { key: 'trace', label: 'Trace', width: '120px', render: (r) => text(shortId(r.trace_id), true, r.trace_id) },
  { key: 'duration', label: 'Duration', width: '80px', num: true, render: (r) => fmtDuration(r.duration_ms) },
  { key: 'model', label: 'Model', width: 'minmax(90px, 1fr)', render: (r) => text(r.model) },
  { key: 'tokens', label: 'Tokens', width: '100px', num: true, render: (r) => (r.input_tokens == null && r.output_tokens == null ? '—' : `${fmtCompact(r.input_tokens ?? 0)} / ${fmtCompact(r.output_tokens ?? 0)}`) },
  { key: 'cost', label: 'Cost', width: '84px', num: true, render: (r) => fmtCost(r.total_cost) },
  { key: 'status', label: 'Status', width: '70px', render: (r) => <StatusBadge status={r.status} /> },
  { key: 'user', label: 'User', width: 'minmax(80px, 1fr)', render: (r) => text(r.user_id) },
  { key: 'session', label: 'Session', width: 'minmax(80px, 1fr)', render: (r) => text(r.session_id) },
  { key: 'provider', label: 'Provider', width: '90px', render: (r) => text(r.provider) },
  { key: 'environment', label: 'Env', width: '80px', render: (r) => text(r.environment) },
  { key: 'span_id', label: 'Span id', width: '130px', render: (r) => text(shortId(r.span_id), true, r.span_id) },
]
const DEFAULT_COLUMNS = ['time', 'name', 'kind', 'trace', 'duration', 'model', 'tokens', 'cost', 'status', 'user', 'session']

export function spanHref(r: { trace_id: string; span_id: string }): string {
  return `/traces/${encodeURIComponent(r.trace_id)}?span=${encodeURIComponent(r.span_id)}`
}

export function Spans() {
  const { project } = useSession()
  const pid = project.project_id
  const loc = useLocation()
  const state = readSpanFilters(loc.params)
  const skey = spanFiltersKey(state)
  const [bounds, setBounds] = useState(() => rangeBounds(state.range, Date.now()))
  useEffect(() => setBounds(rangeBounds(state.range, Date.now())), [skey]) // eslint-disable-line react-hooks/exhaustive-deps
  const query = useMemo(() => spanQuery(state, bounds), [skey, bounds]) // eslint-disable-line react-hooks/exhaustive-deps
  const key = `${pid}|${bounds.from}|${bounds.to}|${skey}`
  const paged = usePaged<SpanRow>(projectPath(pid, '/spans'), query, key)
  const [cols, setCols] = useStored<string[]>('lynex.spanColumns', DEFAULT_COLUMNS)
  const columns = COLUMNS.filter((c) => cols.includes(c.key))
  const total = useLoad(key, (signal) => {
    const q = { ...query } as Record<string, string | number>
    delete q.fields
    return api<MetricsResponse>(projectPath(pid, '/metrics'), { query: q, signal })
  })
  const count = total.data ? (total.data.series[0]?.points[0]?.count ?? 0) : null
  const f = state.filters

  function apply(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    setParams(formChanges(new FormData(e.currentTarget)))
  }

  return (
    <div className="page page-fill">
      <header className="page-head">
        <div>
          <h1>Spans</h1>
          <div className="muted small" data-testid="spans-total">
            {count === null ? '…' : `${fmtInt(count)} span${count === 1 ? '' : 's'} match`}
          </div>
        </div>
        <div className="toolbar">
          <RangePicker value={state.range} onChange={(r) => setParams({ range: r })} />
          <ColumnsMenu columns={COLUMNS} value={cols} defaults={DEFAULT_COLUMNS} onChange={setCols} />
          <button type="button" className="btn" onClick={() => setBounds(rangeBounds(state.range, Date.now()))} aria-label="Refresh">
            ↻
          </button>
        </div>
      </header>
      <form className="filters" onSubmit={apply} key={skey} aria-label="Filters" data-testid="span-filters">
        <input name="q" defaultValue={f.q ?? ''} placeholder="Search input and output…" className="grow" aria-label="Full-text search" />
        <input name="name" defaultValue={f.name ?? ''} placeholder="name" aria-label="Name" />
        <select name="kind" defaultValue={f.kind ?? ''} aria-label="Kind" onChange={(e) => setParams({ kind: e.target.value || null })}>
          <option value="">any kind</option>
          <option value={LLM_CALL}>LLM calls</option>
          {SPAN_KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <input name="model" defaultValue={f.model ?? ''} placeholder="model" aria-label="Model" />
        <select name="status" defaultValue={f.status ?? ''} aria-label="Status" onChange={(e) => setParams({ status: e.target.value || null })}>
          <option value="">any status</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
        </select>
        <input name="user_id" defaultValue={f.user_id ?? ''} placeholder="user" aria-label="User" />
        <input name="session_id" defaultValue={f.session_id ?? ''} placeholder="session" aria-label="Session" />
        <input name="tag" defaultValue={f.tag ?? ''} placeholder="tag" aria-label="Tag" />
        <span className="pair">
          <input name="min_cost" defaultValue={f.min_cost ?? ''} placeholder="cost ≥ $" aria-label="Minimum cost" className="narrow" inputMode="decimal" />
          <input name="max_cost" defaultValue={f.max_cost ?? ''} placeholder="cost ≤ $" aria-label="Maximum cost" className="narrow" inputMode="decimal" />
        </span>
        <span className="pair">
          <input name="min_duration_ms" defaultValue={f.min_duration_ms ?? ''} placeholder="≥ ms" aria-label="Minimum duration (ms)" className="narrow" inputMode="numeric" />
          <input name="max_duration_ms" defaultValue={f.max_duration_ms ?? ''} placeholder="≤ ms" aria-label="Maximum duration (ms)" className="narrow" inputMode="numeric" />
        </span>
        <button type="submit" className="btn primary">
          Apply
        </button>
      </form>
      <ActiveFilters filters={f} />
      <PagedTable
        cols={columns}
        paged={paged}
        rowHref={spanHref}
        onOpen={(r) => navigate(spanHref(r))}
        emptyTitle="No spans match"
        empty={
          <p>
            Widen the time range or clear some filters. New here? <Link to="/start">Send a first trace</Link>.
          </p>
        }
        testId="spans-table"
        noun="spans"
      />
    </div>
  )
}

function ActiveFilters({ filters }: { filters: Partial<Record<FilterKey, string>> }) {
  const keys = ALL_FILTERS.filter((k) => filters[k])
  if (!keys.length) return null
  return (
    <div className="chips" aria-label="Active filters">
      {keys.map((k) => (
        <button key={k} type="button" className="chip" onClick={() => setParams({ [k]: null })} aria-label={`Remove filter ${FILTER_LABELS[k]}`}>
          {FILTER_LABELS[k]}: {k === 'kind' && filters[k] === LLM_CALL ? 'LLM calls' : filters[k]} ✕
        </button>
      ))}
      <button type="button" className="chip clear" onClick={() => setParams(Object.fromEntries(keys.map((k) => [k, null])))}>
        Clear all
      </button>
    </div>
  )
}
