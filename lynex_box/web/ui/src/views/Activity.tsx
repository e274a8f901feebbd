// A page per end user (`/users/<id>`) and per session (`/sessions/<id>`): totals (traces, LLM calls, spans,
// tokens, cost, errors, first and last seen), their traces (linked), and the transcript of their LLM calls with the
// turns that failed (the call, or another span of its trace) marked.
import { api, projectPath } from '../lib/api'
import type { Query } from '../lib/api'
import { LLM_CALL } from '../lib/kinds'
import { rate, total } from '../lib/metrics'
import type { MetricsResponse } from '../lib/metrics'
import { fmtCompact, fmtCost, fmtDuration, fmtInt, fmtPercent, fmtTime, preview } from '../lib/format-preview'
import { useLoad } from '../lib/hooks'
import { boundsOf } from '../lib/timerange'
import { rangeKey, rangeQuery, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { usePaged } from '../components/PagedTable'
import { ValueView } from '../components/Conversation'
import { ErrorBox, Link, Stat, StatusBadge } from '../components/ui'
import { TimeRangePicker } from '../components/TimeRangePicker'
import { SessionDeleteButton, UserDeleteButton } from '../components/DeleteData'
import type { TraceRow } from './Traces'
import type { Span } from './Trace'

type Key = 'user_id' | 'session_id'

interface GroupRow {
  first_seen: string
  last_seen: string
  user_id?: string | null
  session_count?: number
}

export function UserDetail({ userId }: { userId: string }) {
  return <Activity keyName="user_id" id={userId} />
}

export function SessionDetail({ sessionId }: { sessionId: string }) {
  return <Activity keyName="session_id" id={sessionId} />
}

function Activity({ keyName, id }: { keyName: Key; id: string }) {
  const { project } = useSession()
  const { range: timeRange, setRange } = useTimeRange()
  const range = rangeQuery(timeRange) // for links that keep the range
  const b = boundsOf(timeRange, Date.now())
  const pid = project.project_id
  const scope: Query = { from: b.from, to: b.to, [keyName]: id }
  const key = `${pid}|${keyName}|${id}|${rangeKey(timeRange)}|${b.to}`
  const isUser = keyName === 'user_id'
  const list = isUser ? '/users' : '/sessions'
  const totals = useLoad(key, (signal) =>
    api<MetricsResponse>(projectPath(pid, '/metrics'), { query: { ...scope, latency_kind: LLM_CALL }, signal }),
  )
  const row = useLoad(key, (signal) =>
    api<{ items: GroupRow[] }>(projectPath(pid, list), { query: { ...scope, limit: 1 }, signal }),
  )
  const traces = usePaged<TraceRow>(projectPath(pid, '/traces'), scope, key)
  const t = total(totals.data)
  const g = row.data?.items[0]
  const errored = useLoad(key, (signal) =>
    api<{ items: TraceRow[] }>(projectPath(pid, '/traces'), { query: { ...scope, status: 'error', limit: 1000 }, signal }),
  )
  const failed = new Set((errored.data?.items ?? []).map((r) => r.trace_id))
  const noun = isUser ? 'User' : 'Session'
  return (
    <div className="page">
      <Link to={`${list}?${range}`} className="back">
        ← {isUser ? 'Users' : 'Sessions'}
      </Link>
      <header className="page-head">
        <h1 className="ellipsis" title={id}>
          {noun} {id}
        </h1>
        <div className="toolbar">
          {!isUser && g?.user_id && (
            <Link to={`/users/${encodeURIComponent(g.user_id)}?${range}`} testId="session-user">
              User {g.user_id}
            </Link>
          )}
          {isUser && (
            <Link to={`/sessions?user_id=${encodeURIComponent(id)}&${range}`} testId="user-sessions">
              {g?.session_count !== undefined ? `${fmtInt(g.session_count)} sessions` : 'Sessions'}
            </Link>
          )}
          <Link to={`/traces?${keyName}=${encodeURIComponent(id)}&${range}`} className="btn small" testId="activity-open-traces">
            Open in Traces
          </Link>
          <TimeRangePicker value={timeRange} onChange={setRange} />
          {isUser ? <UserDeleteButton userId={id} /> : <SessionDeleteButton sessionId={id} />}
        </div>
      </header>
      {totals.error && <ErrorBox error={totals.error} onRetry={totals.reload} />}
      <section className="stats" aria-label="Totals" data-testid="activity-totals" data-loading={totals.loading || undefined}>
        <Stat testId="stat-traces" label="Traces" value={fmtInt(t.traces)} sub={`${fmtInt(t.trace_errors)} with an error (${fmtPercent(rate(t.trace_errors, t.traces))})`} />
        <Stat testId="stat-llm-calls" label="LLM calls" value={fmtInt(t.llm_calls)} sub={`${fmtInt(t.llm_errors)} in error · p50 ${fmtDuration(t.p50_ms)}`} />
        <Stat testId="stat-spans" label="Spans" value={fmtInt(t.count)} sub={`${fmtInt(t.errors)} in error`} />
        <Stat testId="stat-tokens" label="Tokens" value={fmtCompact(t.input_tokens + t.output_tokens)} sub={`${fmtCompact(t.input_tokens)} in · ${fmtCompact(t.output_tokens)} out`} />
        <Stat testId="stat-cost" label="Cost" value={fmtCost(t.total_cost)} />
        <Stat testId="stat-seen" label="First seen" value={g ? fmtTime(g.first_seen) : '—'} sub={g ? `last seen ${fmtTime(g.last_seen)}` : undefined} />
      </section>
      <div className="session-grid">
        <section className="card">
          <h2>
            Traces ({fmtInt(t.traces)})
          </h2>
          {traces.error && <ErrorBox error={traces.error} onRetry={traces.reload} />}
          <ol className="timeline" data-testid="session-traces">
            {traces.rows.map((r) => (
              <li key={r.trace_id} data-testid="activity-trace">
                <Link to={`/traces/${encodeURIComponent(r.trace_id)}`} title={r.trace_id}>
                  {r.name ?? r.trace_id}
                </Link>
                <span className="muted small mono"> {fmtTime(r.start_time)}</span>
                <span className="muted small"> · {fmtDuration(r.duration_ms)} · {fmtCost(r.total_cost)}</span> <StatusBadge status={r.status} />
              </li>
            ))}
            {!traces.loading && traces.rows.length === 0 && <li className="muted">No traces in this range.</li>}
          </ol>
          {!traces.done && (
            <button type="button" className="btn small" onClick={traces.more} disabled={traces.loading}>
              Load older traces
            </button>
          )}
        </section>
        <Transcript pid={pid} scope={scope} resetKey={key} failedTraces={failed} callCount={totals.data ? t.llm_calls : null} />
      </div>
    </div>
  )
}

function Transcript({ pid, scope, resetKey, failedTraces, callCount }: { pid: string; scope: Query; resetKey: string; failedTraces: Set<string>; callCount: number | null }) {
  // the LLM calls (every generation-like kind: `kind=llm_call`) of the scope, newest first, a page at a time
  const calls = usePaged<Span>(projectPath(pid, '/spans'), { ...scope, kind: LLM_CALL }, resetKey, TRANSCRIPT_PAGE)
  const turns = [...calls.rows].reverse()
  return (
    <section className="card">
      <h2>Transcript</h2>
      {calls.error && <ErrorBox error={calls.error} onRetry={calls.reload} />}
      {!calls.done && (
        <div className="row muted small" data-testid="transcript-cut">
          <span>
            Showing the latest {fmtInt(turns.length)}
            {callCount !== null ? ` of ${fmtInt(callCount)}` : ''} LLM calls.
          </span>
          <button type="button" className="btn small" onClick={calls.more} disabled={calls.loading}>
            Load earlier calls
          </button>
        </div>
      )}
      <div className="transcript" data-testid="session-transcript">
        {turns.map((s) => {
          const own = s.status === 'error'
          const failed = own || failedTraces.has(s.trace_id)
          return (
            <div key={s.event_id} className={failed ? 'turn turn-error' : 'turn'} data-testid="turn" data-error={failed || undefined}>
              <div className="msg msg-user">
                <div className="msg-role">user</div>
                <div className="msg-text">{preview(s.input, 'input', 600) || '—'}</div>
              </div>
              <div className="msg msg-assistant">
                <div className="msg-role">
                  assistant <span className="muted small">· {s.model} · {fmtTime(s.start_time)}</span>
                </div>
                <ValueView value={s.output} side="output" />
              </div>
              <div className="turn-foot small">
                {failed && (
                  <span className="badge status-error" data-testid="turn-error">
                    {own ? `error${s.status_message ? `: ${s.status_message}` : ''}` : 'error in this turn’s trace'}
                  </span>
                )}
                <Link to={`/traces/${encodeURIComponent(s.trace_id)}?span=${encodeURIComponent(s.span_id)}`}>open span →</Link>
              </div>
            </div>
          )
        })}
        {!calls.loading && turns.length === 0 && <p className="muted">No LLM calls in this range.</p>}
      </div>
    </section>
  )
}

const TRANSCRIPT_PAGE = 200
