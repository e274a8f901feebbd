// Sessions: a conversation's traces in order. The list is per session (most recent first); a
// session shows its LLM calls as a transcript and its traces oldest first.
import { useCallback, useEffect, useRef, useState } from 'react'
import { api, projectPath } from '../lib/api'
import type { Query } from '../lib/api'
import { LLM_CALL } from '../lib/kinds'
import type { MetricsResponse } from '../lib/metrics'
import { fmtCompact, fmtCost, fmtDuration, fmtInt, fmtTime, formatCost, preview } from '../lib/format-preview'
import { nextSort, readSort, sortParams, sortQuery } from '../lib/sort'
import { useLoad } from '../lib/hooks'
import { navigate, setParams, useLocation } from '../lib/router'
import { rangeBounds } from '../lib/timerange'
import { useSession } from '../session'
import { PagedTable, usePaged } from '../components/PagedTable'
import type { Col } from '../components/PagedTable'
import { ListTotal } from '../components/SortHeader'
import { ErrorBox, Link, RangePicker, StatusBadge } from '../components/ui'
import type { TraceRow } from './Traces'
import type { Span } from './Trace'

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
  const range = loc.params.get('range') ?? '7d'
  const b = rangeBounds(range, Date.now())
  const q = loc.params.get('user_id') ?? ''
  const sort = readSort(loc.params, SORTS, 'last_seen')
  const query = { from: b.from, to: b.to, user_id: q, ...sortQuery(sort, 'last_seen') }
  const paged = usePaged<SessionRow>(projectPath(project.project_id, '/sessions'), query, `${project.project_id}|${range}|${q}|${b.to}|${sort.column}|${sort.order}`)
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
          <RangePicker value={range} onChange={(r) => setParams({ range: r })} />
        </div>
      </header>
      <PagedTable
        cols={COLS}
        paged={paged}
        testId="sessions"
        noun="sessions"
        sort={sort}
        onSort={(column, text) => setParams(sortParams(nextSort(sort, column, text), 'last_seen'))}
        rowHref={(r) => `/sessions/${encodeURIComponent(r.session_id)}?range=${range}`}
        onOpen={(r) => navigate(`/sessions/${encodeURIComponent(r.session_id)}?range=${range}`)}
        emptyTitle="No sessions in this range"
        empty={<p>Spans join a session when they carry a <code>session_id</code> (native events) or <code>session.id</code> (OpenTelemetry).</p>}
      />
    </div>
  )
}

export function SessionDetail({ sessionId }: { sessionId: string }) {
  const { project } = useSession()
  const loc = useLocation()
  const range = loc.params.get('range') ?? '30d'
  const b = rangeBounds(range, Date.now())
  const pid = project.project_id
  const key = `${pid}|${sessionId}|${range}`
  const traces = useLoad(key, (signal) =>
    api<{ items: TraceRow[] }>(projectPath(pid, '/traces'), { query: { from: b.from, to: b.to, session_id: sessionId, limit: 500 }, signal }),
  )
  const calls = useTranscript(pid, { from: b.from, to: b.to, session_id: sessionId }, key)
  const total = useLoad(key, (signal) =>
    api<MetricsResponse>(projectPath(pid, '/metrics'), { query: { from: b.from, to: b.to, session_id: sessionId, kind: LLM_CALL }, signal, quiet: true }),
  )
  const callCount = total.data?.series[0]?.points[0]?.count ?? null
  const ordered = [...(traces.data?.items ?? [])].reverse()
  const turns = [...calls.items].reverse()
  return (
    <div className="page">
      <Link to={`/sessions?range=${range}`} className="back">
        ← Sessions
      </Link>
      <h1 className="ellipsis" title={sessionId}>Session {sessionId}</h1>
      {traces.error && <ErrorBox error={traces.error} onRetry={traces.reload} />}
      <div className="session-grid">
        <section className="card">
          <h2>Traces ({ordered.length})</h2>
          <ol className="timeline" data-testid="session-traces">
            {ordered.map((t) => (
              <li key={t.trace_id}>
                <Link to={`/traces/${encodeURIComponent(t.trace_id)}`}>{t.name ?? t.trace_id}</Link>
                <span className="muted small mono"> {fmtTime(t.start_time)}</span>
                <span className="muted small"> · {fmtDuration(t.duration_ms)} · {fmtCost(t.total_cost)}</span> <StatusBadge status={t.status} />
              </li>
            ))}
            {traces.data && ordered.length === 0 && <li className="muted">No traces in this range.</li>}
          </ol>
        </section>
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
            {turns.map((s) => (
              <div key={s.event_id} className="turn">
                <div className="msg msg-user">
                  <div className="msg-role">user</div>
                  <div className="msg-text">{preview(s.input, 'input', 600) || '—'}</div>
                </div>
                <div className="msg msg-assistant">
                  <div className="msg-role">
                    assistant <span className="muted small">· {s.model} · {fmtTime(s.start_time)}</span>
                  </div>
                  <div className="msg-text">{preview(s.output, 'output', 1200) || '—'}</div>
                  <Link to={`/traces/${encodeURIComponent(s.trace_id)}?span=${encodeURIComponent(s.span_id)}`} className="small">
                    open span →
                  </Link>
                </div>
              </div>
            ))}
            {calls.loaded && turns.length === 0 && <p className="muted">No LLM calls in this session.</p>}
          </div>
        </section>
      </div>
    </div>
  )
}

const TRANSCRIPT_PAGE = 200

/** The session's LLM calls (every generation-like kind: `kind=llm_call`), newest first, a page at a time. */
function useTranscript(pid: string, query: Query, key: string) {
  const [items, setItems] = useState<Span[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [loaded, setLoaded] = useState(false)
  const [error, setError] = useState<Error | null>(null)
  const gen = useRef(0)
  const queryRef = useRef(query)
  queryRef.current = query
  const load = useCallback(
    async (after: string | null, reset: boolean) => {
      const mine = reset ? ++gen.current : gen.current
      setLoading(true)
      try {
        const q = { ...queryRef.current, kind: LLM_CALL, limit: TRANSCRIPT_PAGE, cursor: after }
        const page = await api<{ items: Span[]; next_cursor: string | null }>(projectPath(pid, '/spans'), { query: q })
        if (mine !== gen.current) return
        setItems((prev) => (reset ? page.items : [...prev, ...page.items]))
        setCursor(page.next_cursor)
        setLoaded(true)
        setError(null)
      } catch (err) {
        if (mine === gen.current) setError(err as Error)
      } finally {
        if (mine === gen.current) setLoading(false)
      }
    },
    [pid],
  )
  useEffect(() => {
    void load(null, true)
  }, [load, key])
  return {
    items,
    loading,
    loaded,
    error,
    done: loaded && cursor === null,
    more: () => {
      if (!loading && cursor) void load(cursor, false)
    },
    reload: () => void load(null, true),
  }
}
