// Users: usage, cost and errors per end user (the `user_id` the application sends).
import { projectPath } from '../lib/api'
import { fmtCompact, fmtInt, fmtPercent, fmtTime, formatCost } from '../lib/format'
import { nextSort, readSort, sortParams, sortQuery } from '../lib/sort'
import { navigate, setParams, useLocation } from '../lib/router'
import { boundsOf } from '../lib/timerange'
import { rangeKey, rangeQuery, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { PagedTable, usePaged } from '../components/PagedTable'
import type { Col } from '../components/PagedTable'
import { TimeRangePicker } from '../components/TimeRangePicker'
import { ListTotal } from '../components/SortHeader'

interface UserRow {
  user_id: string
  session_count: number
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

// The columns the users list sorts by (`sort=` of GET /users).
const SORTS = ['user', 'sessions', 'traces', 'llm_calls', 'spans', 'error_rate', 'error_traces', 'tokens', 'cost', 'first_seen', 'last_seen']

export function Users() {
  const { project } = useSession()
  const loc = useLocation()
  const { range: timeRange, setRange } = useTimeRange()
  const range = rangeQuery(timeRange) // for links that keep the range
  const b = boundsOf(timeRange, Date.now())
  const sort = readSort(loc.params, SORTS, 'last_seen')
  const cols: Col<UserRow>[] = [
    { key: 'user', label: 'User', width: 'minmax(160px, 2fr)', sort: 'user', text: true, render: (r) => <span className="ellipsis" title={r.user_id}>{r.user_id}</span> },
    { key: 'sessions', label: 'Sessions', width: '84px', num: true, sort: 'sessions', render: (r) => fmtInt(r.session_count) },
    { key: 'traces', label: 'Traces', width: '74px', num: true, sort: 'traces', render: (r) => fmtInt(r.trace_count) },
    { key: 'llm_calls', label: 'LLM calls', width: '84px', num: true, sort: 'llm_calls', render: (r) => fmtInt(r.llm_calls) },
    { key: 'spans', label: 'Spans', width: '74px', num: true, sort: 'spans', render: (r) => fmtInt(r.span_count) },
    { key: 'errors', label: 'Error rate', width: '96px', num: true, sort: 'error_rate', render: (r) => (r.error_traces ? <span className="err" title={`${fmtInt(r.error_traces)} of ${fmtInt(r.trace_count)} traces failed`}>{fmtPercent(r.error_traces / r.trace_count)}</span> : '0%') },
    { key: 'tokens', label: 'Tokens', width: '110px', num: true, sort: 'tokens', render: (r) => `${fmtCompact(r.input_tokens)} / ${fmtCompact(r.output_tokens)}` },
    { key: 'cost', label: 'Cost', width: '84px', num: true, sort: 'cost', render: (r) => formatCost(r.total_cost) },
    { key: 'last', label: 'Last seen', width: '160px', sort: 'last_seen', render: (r) => <span className="mono small">{fmtTime(r.last_seen)}</span> },
  ]
  const query = { from: b.from, to: b.to, ...sortQuery(sort, 'last_seen') }
  const paged = usePaged<UserRow>(projectPath(project.project_id, '/users'), query, `${project.project_id}|${rangeKey(timeRange)}|${b.to}|${sort.column}|${sort.order}`)
  return (
    <div className="page page-fill">
      <header className="page-head">
        <h1>
          Users <ListTotal total={paged.total} noun={['user', 'users']} testId="users-total" />
        </h1>
        <div className="toolbar">
          <TimeRangePicker value={timeRange} onChange={setRange} />
        </div>
      </header>
      <PagedTable
        cols={cols}
        paged={paged}
        testId="users"
        noun="users"
        sort={sort}
        onSort={(column, text) => setParams(sortParams(nextSort(sort, column, text), 'last_seen'))}
        rowHref={(r) => `/users/${encodeURIComponent(r.user_id)}?${range}`}
        onOpen={(r) => navigate(`/users/${encodeURIComponent(r.user_id)}?${range}`)}
        emptyTitle="No end users in this range"
        empty={<p>Send a <code>user_id</code> with your events (or <code>user.id</code> / <code>enduser.id</code> over OpenTelemetry) to see usage and cost per user.</p>}
      />
    </div>
  )
}
