// The traces explorer: filters in the URL, facet counts, a virtualised table paged with cursors,
// columns of one's choice. j/k or arrows move, Enter opens, / searches.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import type { ReactNode } from 'react'
import { api, projectPath } from '../lib/api'
import { fmtCompact, fmtDuration, fmtInt, fmtTime, formatCost, shortId } from '../lib/format'
import { nextSort, readSort, sortParams, sortQuery } from '../lib/sort'
import { useKeys, useStored } from '../lib/hooks'
import { gridMinWidth } from '../lib/grid'
import { navigate, setParams } from '../lib/router'
import { useSession } from '../session'
import { VirtualList } from '../components/VirtualList'
import type { VirtualListHandle } from '../components/VirtualList'
import { EmptyState, ErrorBox, Link, StatusBadge } from '../components/ui'
import { Facets, FilterBar } from '../components/FilterBar'
import { SavedViews } from '../components/SavedViews'
import { TimeRangePicker } from '../components/TimeRangePicker'
import { useListFilters } from '../components/useListFilters'
import { ExportMenu } from '../components/ExportMenu'
import { ColumnsMenu } from '../components/ColumnsMenu'
import { CopyLink } from '../components/CopyLink'
import { HeaderCell, ListTotal } from '../components/SortHeader'

export interface TraceRow {
  trace_id: string
  name: string | null
  start_time: string
  end_time: string
  duration_ms: number
  span_count: number
  input_tokens: number | null
  output_tokens: number | null
  total_cost: number | null
  status: string
  user_id: string | null
  session_id: string | null
  environment: string | null
  hallucination_risk?: number | null
}

interface Column {
  key: string
  label: string
  width: string
  num?: boolean
  text?: boolean // sorted A to Z on a first click (every column sorts: its key is the API's `sort=`)
  render: (r: TraceRow) => ReactNode
}

const COLUMNS: Column[] = [
  { key: 'time', label: 'Time', width: '160px', render: (r) => <span className="mono small">{fmtTime(r.start_time)}</span> },
  { key: 'name', label: 'Name', width: 'minmax(160px, 2fr)', text: true, render: (r) => <span className="ellipsis" title={r.name ?? undefined}>{r.name ?? '(unnamed)'}</span> },
  { key: 'status', label: 'Status', width: '70px', text: true, render: (r) => <StatusBadge status={r.status} /> },
  { key: 'duration', label: 'Latency', width: '80px', num: true, render: (r) => fmtDuration(r.duration_ms) },
  { key: 'spans', label: 'Spans', width: '64px', num: true, render: (r) => fmtInt(r.span_count) },
  { key: 'tokens', label: 'Tokens', width: '110px', num: true, render: (r) => `${fmtCompact(r.input_tokens ?? 0)} / ${fmtCompact(r.output_tokens ?? 0)}` },
  { key: 'cost', label: 'Cost', width: '84px', num: true, render: (r) => formatCost(r.total_cost) },
  { key: 'user', label: 'User', width: 'minmax(80px, 1fr)', text: true, render: (r) => <span className="ellipsis" title={r.user_id ?? undefined}>{r.user_id ?? '—'}</span> },
  { key: 'session', label: 'Session', width: 'minmax(80px, 1fr)', text: true, render: (r) => <span className="ellipsis" title={r.session_id ?? undefined}>{r.session_id ?? '—'}</span> },
  { key: 'environment', label: 'Env', width: '80px', text: true, render: (r) => <span className="ellipsis" title={r.environment ?? undefined}>{r.environment ?? '—'}</span> },
  { key: 'trace_id', label: 'Trace id', width: '130px', text: true, render: (r) => <span className="mono small" title={r.trace_id}>{shortId(r.trace_id)}</span> },
  { key: 'hallucination_risk', label: 'Risk', width: '64px', num: true, render: (r) => (r.hallucination_risk == null ? '—' : <span className={r.hallucination_risk >= 0.5 ? 'err' : ''} title="Hallucination risk: the highest of the trace's detectors and judges (0–1)">{r.hallucination_risk.toFixed(2)}</span>) },
]
const DEFAULT_COLUMNS = ['time', 'name', 'status', 'duration', 'spans', 'tokens', 'cost', 'user', 'session']
const PAGE = 100
const ROW = 34

interface Page {
  items: TraceRow[]
  next_cursor: string | null
  total?: number | null
}

export function Traces() {
  const { project } = useSession()
  const { loc, range, setRange, filters, fkey, bounds, refresh, setFilters, query, facetQuery } = useListFilters('/traces')
  const sort = readSort(loc.params, COLUMNS.map((c) => c.key), 'time')
  const skey = `${sort.column}|${sort.order}`
  const [cols, setCols] = useStored<string[]>('lynex.traceColumns', DEFAULT_COLUMNS)
  const columns = COLUMNS.filter((c) => cols.includes(c.key))
  const grid = columns.map((c) => c.width).join(' ')
  const minWidth = gridMinWidth(columns.map((c) => c.width))

  const [rows, setRows] = useState<TraceRow[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(false)
  const [error, setError] = useState<Error | null>(null)
  const [total, setTotal] = useState<number | null>(null)
  const [done, setDone] = useState(false)
  const [selected, setSelected] = useState(0)
  const list = useRef<VirtualListHandle>(null)
  const search = useRef<HTMLInputElement>(null)
  const gen = useRef(0)
  const pid = project.project_id

  const ordered = useMemo(() => ({ ...query, ...sortQuery(sort, 'time') }), [query, skey]) // eslint-disable-line react-hooks/exhaustive-deps

  const loadPage = useCallback(
    async (after: string | null, reset: boolean) => {
      const mine = reset ? ++gen.current : gen.current
      setLoading(true)
      if (reset) setTotal(null)
      try {
        const page = await api<Page>(projectPath(pid, '/traces'), { query: { ...ordered, limit: PAGE, cursor: after } })
        if (mine !== gen.current) return
        if (reset) setTotal(page.total ?? null)
        setRows((prev) => (reset ? page.items : [...prev, ...page.items]))
        setCursor(page.next_cursor)
        setDone(page.next_cursor === null)
        setError(null)
      } catch (err) {
        if (mine === gen.current) setError(err as Error)
      } finally {
        if (mine === gen.current) setLoading(false)
      }
    },
    [pid, ordered],
  )

  useEffect(() => {
    setSelected(0)
    setDone(false)
    void loadPage(null, true)
  }, [loadPage])

  const more = useCallback(() => {
    if (!loading && !done && cursor) void loadPage(cursor, false)
  }, [loading, done, cursor, loadPage])

  const move = (d: number) => {
    const next = Math.max(0, Math.min(rows.length - 1, selected + d))
    setSelected(next)
    list.current?.scrollToIndex(next)
  }
  useKeys({
    j: () => move(1),
    k: () => move(-1),
    ArrowDown: (e) => {
      e.preventDefault()
      move(1)
    },
    ArrowUp: (e) => {
      e.preventDefault()
      move(-1)
    },
    Enter: () => rows[selected] && navigate(`/traces/${encodeURIComponent(rows[selected].trace_id)}`),
    '/': (e) => {
      e.preventDefault()
      search.current?.focus()
    },
  })

  const head = (
    <div className="grid-head" style={{ gridTemplateColumns: grid, minWidth }} role="row" data-testid="traces-head">
      {columns.map((c) => (
        <HeaderCell key={c.key} label={c.label} num={c.num} column={c.key} text={c.text} sort={sort} onSort={(col, text) => setParams(sortParams(nextSort(sort, col, text), 'time'))} />
      ))}
    </div>
  )

  return (
    <div className="page page-fill">
      <header className="page-head">
        <h1>
          Traces <ListTotal total={total} noun={['trace', 'traces']} testId="traces-total" />
        </h1>
        <div className="toolbar">
          <TimeRangePicker value={range} onChange={setRange} />
          <SavedViews pid={pid} page="traces" path="/traces" query={loc.params.toString()} />
          <CopyLink pid={pid} />
          <ColumnsMenu columns={COLUMNS} value={cols} defaults={DEFAULT_COLUMNS} onChange={setCols} />
          <ExportMenu pid={pid} query={query} />
          <button type="button" className="btn" onClick={refresh} aria-label="Refresh">
            ↻
          </button>
        </div>
      </header>
      <FilterBar state={filters} onChange={setFilters} pid={pid} bounds={bounds} searchRef={search} />
      <div className="explorer">
        <Facets pid={pid} state={filters} onChange={setFilters} query={facetQuery} reloadKey={`${pid}|${bounds.from}|${bounds.to}|${fkey}`} />
        <div className="table-wrap">
          {error && <ErrorBox error={error} onRetry={() => void loadPage(null, true)} />}
          {rows.length === 0 && !loading && !error && head}
          {rows.length === 0 && !loading && !error ? (
            <EmptyState title="No traces match" testId="traces-empty">
              <p>Widen the time range or clear some filters. New here? <Link to="/start">Send a first trace</Link>.</p>
            </EmptyState>
          ) : (
            <VirtualList
              ref={list}
              count={rows.length}
              rowHeight={ROW}
              onEndReached={more}
              label="Traces"
              testId="traces-table"
              header={head}
              headerHeight={32}
              minWidth={minWidth}
              resetKey={`${pid}|${bounds.from}|${bounds.to}|${fkey}|${skey}`}
              render={(i) => {
                const r = rows[i]
                return (
                  <a
                    href={`/ui/traces/${encodeURIComponent(r.trace_id)}`}
                    className={`grid-row ${i === selected ? 'selected' : ''} ${r.status === 'error' ? 'is-error' : ''}`}
                    style={{ gridTemplateColumns: grid }}
                    data-testid="trace-row"
                    data-trace-id={r.trace_id}
                    onClick={(e) => {
                      if (e.metaKey || e.ctrlKey || e.shiftKey) return
                      e.preventDefault()
                      setSelected(i)
                      navigate(`/traces/${encodeURIComponent(r.trace_id)}`)
                    }}
                  >
                    {columns.map((c) => (
                      <div key={c.key} className={c.num ? 'num' : ''}>
                        {c.render(r)}
                      </div>
                    ))}
                  </a>
                )
              }}
            />
          )}
          <div className="table-foot muted small" data-testid="traces-count">
            {loading ? 'Loading…' : `${fmtInt(rows.length)} trace${rows.length === 1 ? '' : 's'}${done ? '' : ' — scroll for more'}`}
          </div>
        </div>
      </div>
    </div>
  )
}

