// Sessions: the list of conversations (most recent first, or sorted by any column); a session's own page is
// Activity.tsx.
import { projectPath } from '../lib/api'
import { fmtCompact, fmtInt, fmtTime, formatCost } from '../lib/format'
import { nextSort, readSort, sortParams, sortQuery } from '../lib/sort'
import { navigate, setParams, useLocation } from '../lib/router'
import { boundsOf } from '../lib/timerange'
import { rangeKey, rangeQuery, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { PagedTable, usePaged } from '../components/PagedTable'
import type { Col } from '../components/PagedTable'
import { ListTotal } from '../components/SortHeader'
import { TimeRangePicker } from '../components/TimeRangePicker'

interface SessionRow {
  session_id: string
  user_id: string | null
  trace_count: number
  span_count: number
  llm_calls: number
  errors: number
  error_traces: number
  input_tokens: number
  output_tokens: number
  total_cost: number
  first_seen: string
  last_seen: string
}

const COLS: Col<SessionRow>[] = [
  { key: 'session', label: 'Session', width: 'minmax(180px, 2fr)', sort: 'session', text: true, render: (r) => <span className="ellipsis" title={r.session_id}>{r.session_id}</span> },
  { key: 'user', label: 'User', width: 'minmax(100px, 1fr)', sort: 'user', text: true, render: (r) => <span className="ellipsis" title={r.user_id ?? undefined}>{r.user_id ?? '—'}</span> },
  { key: 'traces', label: 'Traces', width: '74px', num: true, sort: 'traces', render: (r) => fmtInt(r.trace_count) },
  { key: 'llm_calls', label: 'LLM calls', width: '84px', num: true, sort: 'llm_calls', render: (r) => fmtInt(r.llm_calls) },
  { key: 'spans', label: 'Spans', width: '74px', num: true, sort: 'spans', render: (r) => fmtInt(r.span_count) },
  { key: 'errors', label: 'Failed traces', width: '104px', num: true, sort: 'error_traces', render: (r) => (r.error_traces ? <span className="err">{fmtInt(r.error_traces)}</span> : '0') },
  { key: 'tokens', label: 'Tokens', width: '110px', num: true, sort: 'tokens', render: (r) => `${fmtCompact(r.input_tokens)} / ${fmtCompact(r.output_tokens)}` },
  { key: 'cost', label: 'Cost', width: '84px', num: true, sort: 'cost', render: (r) => formatCost(r.total_cost) },
  { key: 'first', label: 'Started', width: '160px', sort: 'first_seen', render: (r) => <span className="mono small">{fmtTime(r.first_seen)}</span> },
  { key: 'last', label: 'Last activity', width: '160px', sort: 'last_seen', render: (r) => <span className="mono small">{fmtTime(r.last_seen)}</span> },
]
// The columns the sessions list sorts by (`sort=` of GET /sessions).
const SORTS = ['session', 'user', 'traces', 'llm_calls', 'spans', 'error_traces', 'tokens', 'cost', 'first_seen', 'last_seen']

export function Sessions() {
  const { project } = useSession()
  const loc = useLocation()
  const { range: timeRange, setRange } = useTimeRange()
  const range = rangeQuery(timeRange) // for links that keep the range
  const b = boundsOf(timeRange, Date.now())
  const q = loc.params.get('user_id') ?? ''
  const sort = readSort(loc.params, SORTS, 'last_seen')
  const query = { from: b.from, to: b.to, user_id: q, ...sortQuery(sort, 'last_seen') }
  const paged = usePaged<SessionRow>(projectPath(project.project_id, '/sessions'), query, `${project.project_id}|${rangeKey(timeRange)}|${q}|${b.to}|${sort.column}|${sort.order}`)
  return (
    <div className="page page-fill">
      <header className="page-head">
        <h1>
          Sessions <ListTotal total={paged.total} noun={['session', 'sessions']} testId="sessions-total" />
        </h1>
        <div className="toolbar">
          {q && (
            <button type="button" className="chip" onClick={() => setParams({ user_id: null })}>
              user: {q} ✕
            </button>
          )}
          <TimeRangePicker value={timeRange} onChange={setRange} />
        </div>
      </header>
      <PagedTable
        cols={COLS}
        paged={paged}
        testId="sessions"
        noun="sessions"
        sort={sort}
        onSort={(column, text) => setParams(sortParams(nextSort(sort, column, text), 'last_seen'))}
        rowHref={(r) => `/sessions/${encodeURIComponent(r.session_id)}?${range}`}
        onOpen={(r) => navigate(`/sessions/${encodeURIComponent(r.session_id)}?${range}`)}
        emptyTitle="No sessions in this range"
        empty={<p>Spans join a session when they carry a <code>session_id</code> (native events) or <code>session.id</code> (OpenTelemetry).</p>}
      />
    </div>
  )
}

// A session's page (totals, traces, transcript) is shared with the user's page: Activity.tsx.
export { SessionDetail } from './Activity'
