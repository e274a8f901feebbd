// Sessions: a conversation's traces in order. The list is per session (most recent first); a
// session shows its LLM calls as a transcript and its traces oldest first.
import { projectPath } from '../lib/api'
import { fmtCompact, fmtCost, fmtInt, fmtTime } from '../lib/format-preview'
import { navigate, setParams, useLocation } from '../lib/router'
import { boundsOf } from '../lib/timerange'
import { rangeKey, rangeQuery, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { PagedTable, usePaged } from '../components/PagedTable'
import type { Col } from '../components/PagedTable'
import { TimeRangePicker } from '../components/TimeRangePicker'

interface SessionRow {
  session_id: string
  user_id: string | null
  trace_count: number
  span_count: number
  errors: number
  input_tokens: number
  output_tokens: number
  total_cost: number
  first_seen: string
  last_seen: string
}

const COLS: Col<SessionRow>[] = [
  { key: 'session', label: 'Session', width: 'minmax(180px, 2fr)', render: (r) => <span className="ellipsis" title={r.session_id}>{r.session_id}</span> },
  { key: 'user', label: 'User', width: 'minmax(100px, 1fr)', render: (r) => <span className="ellipsis" title={r.user_id ?? undefined}>{r.user_id ?? '—'}</span> },
  { key: 'traces', label: 'Traces', width: '70px', num: true, render: (r) => fmtInt(r.trace_count) },
  { key: 'errors', label: 'Errors', width: '70px', num: true, render: (r) => (r.errors ? <span className="err">{fmtInt(r.errors)}</span> : '0') },
  { key: 'tokens', label: 'Tokens', width: '110px', num: true, render: (r) => `${fmtCompact(r.input_tokens)} / ${fmtCompact(r.output_tokens)}` },
  { key: 'cost', label: 'Cost', width: '84px', num: true, render: (r) => fmtCost(r.total_cost) },
  { key: 'first', label: 'Started', width: '160px', render: (r) => <span className="mono small">{fmtTime(r.first_seen)}</span> },
  { key: 'last', label: 'Last activity', width: '160px', render: (r) => <span className="mono small">{fmtTime(r.last_seen)}</span> },
]

export function Sessions() {
  const { project } = useSession()
  const loc = useLocation()
  const { range: timeRange, setRange } = useTimeRange()
  const range = rangeQuery(timeRange) // for links that keep the range
  const b = boundsOf(timeRange, Date.now())
  const q = loc.params.get('user_id') ?? ''
  const paged = usePaged<SessionRow>(projectPath(project.project_id, '/sessions'), { from: b.from, to: b.to, user_id: q }, `${project.project_id}|${rangeKey(timeRange)}|${q}|${b.to}`)
  return (
    <div className="page page-fill">
      <header className="page-head">
        <h1>Sessions</h1>
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
