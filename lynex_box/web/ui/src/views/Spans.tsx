// Every span, not only traces: the traces list's filter bar (lib/filterstate.ts's URL state, so a filter set on the
// traces list carries over here and back), plus a kind filter, over the span list API (`fields=summary`); facets
// that count spans; the shared time range; saved views; a virtualised table paged with cursors, columns of one's
// choice. A row opens its trace with the span selected.
import { useMemo, useRef } from 'react'
import { api, projectPath } from '../lib/api'
import type { MultiKey } from '../lib/filterstate'
import { fmtCompact, fmtDuration, fmtInt, fmtTime, formatCost, shortId } from '../lib/format'
import { useLoad, useStored } from '../lib/hooks'
import type { MetricsResponse } from '../lib/metrics'
import { navigate } from '../lib/router'
import { useSession } from '../session'
import { ColumnsMenu } from '../components/ColumnsMenu'
import { CopyLink } from '../components/CopyLink'
import { FACETS, Facets, FilterBar } from '../components/FilterBar'
import { PagedTable, usePaged } from '../components/PagedTable'
import type { Col } from '../components/PagedTable'
import { SavedViews } from '../components/SavedViews'
import { TimeRangePicker } from '../components/TimeRangePicker'
import { useListFilters } from '../components/useListFilters'
import { Link, StatusBadge } from '../components/ui'

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
  { key: 'cost', label: 'Cost', width: '84px', num: true, render: (r) => formatCost(r.total_cost) },
  { key: 'status', label: 'Status', width: '70px', render: (r) => <StatusBadge status={r.status} /> },
  { key: 'user', label: 'User', width: 'minmax(80px, 1fr)', render: (r) => text(r.user_id) },
  { key: 'session', label: 'Session', width: 'minmax(80px, 1fr)', render: (r) => text(r.session_id) },
  { key: 'provider', label: 'Provider', width: '90px', render: (r) => text(r.provider) },
  { key: 'environment', label: 'Env', width: '80px', render: (r) => text(r.environment) },
  { key: 'span_id', label: 'Span id', width: '130px', render: (r) => text(shortId(r.span_id), true, r.span_id) },
]
// the ones that fit beside the facets at 1440 px; tokens, session and the others are in the Columns menu
const DEFAULT_COLUMNS = ['time', 'name', 'kind', 'trace', 'duration', 'model', 'cost', 'status', 'user']

export function spanHref(r: { trace_id: string; span_id: string }): string {
  return `/traces/${encodeURIComponent(r.trace_id)}?span=${encodeURIComponent(r.span_id)}`
}

const SPAN_FACETS: [MultiKey, string][] = [...FACETS, ['kind', 'Kind']]

export function Spans() {
  const { project } = useSession()
  const pid = project.project_id
  const { loc, range, setRange, filters, fkey, bounds, refresh, setFilters, query: filterQuery, facetQuery } = useListFilters('/spans')
  const search = useRef<HTMLInputElement>(null)
  const query = useMemo(() => ({ ...filterQuery, fields: 'summary' }), [filterQuery])
  const key = `${pid}|${bounds.from}|${bounds.to}|${fkey}`
  const paged = usePaged<SpanRow>(projectPath(pid, '/spans'), query, key)
  const [cols, setCols] = useStored<string[]>('lynex.spanColumns', DEFAULT_COLUMNS)
  const columns = COLUMNS.filter((c) => cols.includes(c.key))
  const total = useLoad(key, (signal) => api<MetricsResponse>(projectPath(pid, '/metrics'), { query: filterQuery, signal }))
  const count = total.data ? (total.data.series[0]?.points[0]?.count ?? 0) : null

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
          <TimeRangePicker value={range} onChange={setRange} />
          <SavedViews pid={pid} page="spans" path="/spans" query={loc.params.toString()} />
          <CopyLink pid={pid} />
          <ColumnsMenu columns={COLUMNS} value={cols} defaults={DEFAULT_COLUMNS} onChange={setCols} />
          <button type="button" className="btn" onClick={refresh} aria-label="Refresh">
            ↻
          </button>
        </div>
      </header>
      <FilterBar state={filters} onChange={setFilters} pid={pid} bounds={bounds} searchRef={search} kinds />
      <div className="explorer">
        <Facets pid={pid} state={filters} onChange={setFilters} query={facetQuery} reloadKey={key} count="spans" dims={SPAN_FACETS} />
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
    </div>
  )
}
