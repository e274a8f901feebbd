// The traces explorer: filters in the URL, facet counts, a virtualised table paged with cursors,
// columns of one's choice. j/k or arrows move, Enter opens, / searches.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { api, projectPath } from '../lib/api'
import { ALL_FILTERS, FILTER_LABELS, filtersKey, readFilters } from '../lib/filters'
import type { FilterKey, Filters } from '../lib/filters'
import { fmtCompact, fmtDuration, fmtInt, fmtTime, formatCost, shortId } from '../lib/format'
import { nextSort, readSort, sortParams, sortQuery } from '../lib/sort'
import { useKeys, useLoad, useStored } from '../lib/hooks'
import { gridMinWidth } from '../lib/grid'
import { LLM_CALL } from '../lib/kinds'
import { navigate, setParams, useLocation } from '../lib/router'
import { DEFAULT_RANGE, rangeBounds } from '../lib/timerange'
import { useSession } from '../session'
import { VirtualList } from '../components/VirtualList'
import type { VirtualListHandle } from '../components/VirtualList'
import { EmptyState, ErrorBox, Link, RangePicker, StatusBadge } from '../components/ui'
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
  const loc = useLocation()
  const range = loc.params.get('range') ?? DEFAULT_RANGE
  const filters = readFilters(loc.params)
  const fkey = filtersKey(filters)
  const sort = readSort(loc.params, COLUMNS.map((c) => c.key), 'time')
  const skey = `${sort.column}|${sort.order}`
  const [bounds, setBounds] = useState(() => rangeBounds(range, Date.now()))
  useEffect(() => setBounds(rangeBounds(range, Date.now())), [range, fkey])
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

  const query = useMemo(() => ({ from: bounds.from, to: bounds.to, ...filters }), [bounds, fkey]) // eslint-disable-line react-hooks/exhaustive-deps
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

  function apply(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const changes: Record<string, string | null> = {}
    for (const k of ALL_FILTERS) if (form.has(k)) changes[k] = String(form.get(k) ?? '').trim() || null
    setParams(changes)
  }

  return (
    <div className="page page-fill">
      <header className="page-head">
        <h1>
          Traces <ListTotal total={total} noun={['trace', 'traces']} testId="traces-total" />
        </h1>
        <div className="toolbar">
          <RangePicker value={range} onChange={(r) => setParams({ range: r })} />
          <ColumnChooser value={cols} onChange={setCols} />
          <button type="button" className="btn" onClick={() => setBounds(rangeBounds(range, Date.now()))} aria-label="Refresh">
            ↻
          </button>
        </div>
      </header>
      <form className="filters" onSubmit={apply} key={fkey} aria-label="Filters" data-testid="filters">
        <input ref={search} name="q" defaultValue={filters.q ?? ''} placeholder="Search input and output…  ( / )" className="grow" aria-label="Full-text search" />
        <input name="name" defaultValue={filters.name ?? ''} placeholder="name" aria-label="Name" />
        <input name="model" defaultValue={filters.model ?? ''} placeholder="model" aria-label="Model" />
        <select name="status" defaultValue={filters.status ?? ''} aria-label="Status" onChange={(e) => setParams({ status: e.target.value || null })}>
          <option value="">any status</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
        </select>
        <input name="user_id" defaultValue={filters.user_id ?? ''} placeholder="user" aria-label="User" />
        <input name="session_id" defaultValue={filters.session_id ?? ''} placeholder="session" aria-label="Session" />
        <input name="tag" defaultValue={filters.tag ?? ''} placeholder="tag" aria-label="Tag" />
        <span className="pair" data-testid="cost-filter">
          <input name="min_cost" defaultValue={filters.min_cost ?? ''} placeholder="cost ≥ $" aria-label="Minimum cost" className="narrow" inputMode="decimal" />
          <input name="max_cost" defaultValue={filters.max_cost ?? ''} placeholder="cost ≤ $" aria-label="Maximum cost" className="narrow" inputMode="decimal" />
        </span>
        <span className="pair" data-testid="duration-filter">
          <input name="min_duration_ms" defaultValue={filters.min_duration_ms ?? ''} placeholder="≥ ms" aria-label="Minimum latency (ms)" className="narrow" inputMode="numeric" />
          <input name="max_duration_ms" defaultValue={filters.max_duration_ms ?? ''} placeholder="≤ ms" aria-label="Maximum latency (ms)" className="narrow" inputMode="numeric" />
        </span>
        <button type="submit" className="btn primary">
          Apply
        </button>
      </form>
      <ActiveFilters filters={filters} />
      <div className="explorer">
        <Facets pid={pid} query={query} fkey={`${pid}|${bounds.from}|${bounds.to}|${fkey}`} filters={filters} />
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

function ActiveFilters({ filters }: { filters: Filters }) {
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

const FACETS: [FilterKey, string][] = [
  ['model', 'Model'],
  ['name', 'Name'],
  ['environment', 'Environment'],
  ['provider', 'Provider'],
]

interface FacetsResponse {
  group_by: string
  items: { value: string; traces: number; spans: number }[]
}

function Facets({ pid, query, fkey, filters }: { pid: string; query: Record<string, unknown>; fkey: string; filters: Filters }) {
  return (
    <aside className="facets" aria-label="Facets">
      {FACETS.map(([dim, label]) => (
        <Facet key={dim} pid={pid} dim={dim} label={label} query={query} fkey={fkey} active={filters[dim]} />
      ))}
    </aside>
  )
}

function Facet({ pid, dim, label, query, fkey, active }: { pid: string; dim: FilterKey; label: string; query: Record<string, unknown>; fkey: string; active?: string }) {
  // Counted in traces, as the list counts (a value's count is the list's total once it is picked).
  const res = useLoad(`${fkey}|${dim}`, (signal) =>
    api<FacetsResponse>(projectPath(pid, '/trace-facets'), { query: { ...(query as Record<string, string>), group_by: dim, top: 8 }, signal }),
  )
  const groups = (res.data?.items ?? []).map((g) => ({ group: g.value, count: g.traces }))
  return (
    <div className="facet" data-testid={`facet-${dim}`}>
      <h3>{label}</h3>
      {groups.length === 0 && <div className="muted small">{res.loading ? '…' : 'none'}</div>}
      {groups.map((g) => (
        <button
          type="button"
          key={g.group}
          className={`facet-item ${active === g.group ? 'active' : ''}`}
          disabled={g.group === '(none)'}
          onClick={() => setParams({ [dim]: active === g.group ? null : g.group })}
        >
          <span className="ellipsis" title={g.group}>{g.group}</span>
          <span className="muted small num">{fmtCompact(g.count)}</span>
        </button>
      ))}
    </div>
  )
}

function ColumnChooser({ value, onChange }: { value: string[]; onChange: (v: string[]) => void }) {
  const menu = useRef<HTMLDetailsElement>(null)
  useEffect(() => {
    // A menu closes on Esc and on a click outside it, as menus do.
    const close = () => {
      if (menu.current?.open) menu.current.open = false
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && menu.current?.open) {
        close()
        menu.current.querySelector('summary')?.focus()
      }
    }
    const onDown = (e: MouseEvent) => {
      if (menu.current && !menu.current.contains(e.target as Node)) close()
    }
    document.addEventListener('keydown', onKey)
    document.addEventListener('mousedown', onDown)
    return () => {
      document.removeEventListener('keydown', onKey)
      document.removeEventListener('mousedown', onDown)
    }
  }, [])
  return (
    <details className="menu" ref={menu} data-testid="columns-menu">
      <summary className="btn">Columns</summary>
      <div className="menu-body" role="group" aria-label="Columns">
        {COLUMNS.map((c) => (
          <label key={c.key} className="check">
            <input
              type="checkbox"
              checked={value.includes(c.key)}
              onChange={(e) => onChange(e.target.checked ? COLUMNS.map((x) => x.key).filter((k) => k === c.key || value.includes(k)) : value.filter((k) => k !== c.key))}
            />
            {c.label}
          </label>
        ))}
        <button type="button" className="btn small" onClick={() => onChange(DEFAULT_COLUMNS)}>
          Reset
        </button>
      </div>
    </details>
  )
}
