// Users: usage, cost and errors per end user (the `user_id` the application sends).
import { projectPath } from '../lib/api'
import { fmtCompact, fmtCost, fmtInt, fmtPercent, fmtTime } from '../lib/format'
import { navigate } from '../lib/router'
import { boundsOf } from '../lib/timerange'
import { rangeKey, rangeQuery, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { PagedTable, usePaged } from '../components/PagedTable'
import type { Col } from '../components/PagedTable'
import { TimeRangePicker } from '../components/TimeRangePicker'

interface UserRow {
  user_id: string
  session_count: number
  trace_count: number
  span_count: number
  errors: number
  input_tokens: number
  output_tokens: number
  total_cost: number
  first_seen: string
  last_seen: string
}

export function Users() {
  const { project } = useSession()
  const { range: timeRange, setRange } = useTimeRange()
  const range = rangeQuery(timeRange) // for links that keep the range
  const b = boundsOf(timeRange, Date.now())
  const cols: Col<UserRow>[] = [
    { key: 'user', label: 'User', width: 'minmax(160px, 2fr)', render: (r) => <span className="ellipsis">{r.user_id}</span> },
    { key: 'sessions', label: 'Sessions', width: '80px', num: true, render: (r) => fmtInt(r.session_count) },
    { key: 'traces', label: 'Traces', width: '70px', num: true, render: (r) => fmtInt(r.trace_count) },
    { key: 'spans', label: 'Requests', width: '80px', num: true, render: (r) => fmtInt(r.span_count) },
    { key: 'errors', label: 'Error rate', width: '90px', num: true, render: (r) => (r.errors ? <span className="err">{fmtPercent(r.errors / r.span_count)}</span> : '0%') },
    { key: 'tokens', label: 'Tokens', width: '110px', num: true, render: (r) => `${fmtCompact(r.input_tokens)} / ${fmtCompact(r.output_tokens)}` },
    { key: 'cost', label: 'Cost', width: '84px', num: true, render: (r) => fmtCost(r.total_cost) },
    { key: 'last', label: 'Last seen', width: '160px', render: (r) => <span className="mono small">{fmtTime(r.last_seen)}</span> },
  ]
  const paged = usePaged<UserRow>(projectPath(project.project_id, '/users'), { from: b.from, to: b.to }, `${project.project_id}|${rangeKey(timeRange)}|${b.to}`)
  return (
    <div className="page page-fill">
      <header className="page-head">
        <h1>Users</h1>
        <div className="toolbar">
          <TimeRangePicker value={timeRange} onChange={setRange} />
        </div>
      </header>
      <PagedTable
        cols={cols}
        paged={paged}
        testId="users"
        noun="users"
        rowHref={(r) => `/users/${encodeURIComponent(r.user_id)}?${range}`}
        onOpen={(r) => navigate(`/users/${encodeURIComponent(r.user_id)}?${range}`)}
        emptyTitle="No end users in this range"
        empty={<p>Send a <code>user_id</code> with your events (or <code>user.id</code> / <code>enduser.id</code> over OpenTelemetry) to see usage and cost per user.</p>}
      />
    </div>
  )
}
