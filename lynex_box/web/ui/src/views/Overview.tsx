// The overview dashboard: traces, LLM calls and spans counted apart, error rates per trace and per LLM call,
// latency of one span kind (LLM calls by default, so one long agent span does not flatten the chart), charts over
// time, a breakdown by a dimension, and the costliest users, sessions and prompts. The filters (environment, tag,
// model, prompt) and the latency kind live in the URL and apply to every number and chart of the page.
import { useMemo, useState } from 'react'
import { api, projectPath } from '../lib/api'
import { filtersFrom, filtersQuery, OVERVIEW_FILTERS } from '../lib/dashboard'
import { fmtCompact, fmtCost, fmtDuration, fmtInt, fmtPercent } from '../lib/format'
import { useInterval, useLoad, useStored } from '../lib/hooks'
import { LLM_CALL } from '../lib/kinds'
import { alignSeries, rate, total, totalsByGroup } from '../lib/metrics'
import type { MetricsResponse } from '../lib/metrics'
import { setParams, useLocation } from '../lib/router'
import { boundsOf } from '../lib/timerange'
import { rangeKey, rangeQuery, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { Chart } from '../components/Chart'
import { EmptyState, ErrorBox, Link, Stat, Tabs } from '../components/ui'
import { TimeRangePicker } from '../components/TimeRangePicker'

type Dim = 'model' | 'provider' | 'name' | 'environment'
const DIMS: [Dim, string][] = [
  ['model', 'Model'],
  ['provider', 'Provider'],
  ['name', 'Name'],
  ['environment', 'Environment'],
]

const C = { blue: '#3b82f6', red: '#ef4444', green: '#10b981', amber: '#f59e0b', violet: '#8b5cf6', teal: '#14b8a6' }

/** `latency_kind` in the URL: absent = LLM calls, `all` = every span, else one span kind. */
function latencyKind(param: string | null): string | null {
  if (!param) return LLM_CALL
  return param === 'all' ? null : param
}

function kindLabel(kind: string | null): string {
  return kind === LLM_CALL ? 'LLM calls' : kind === null ? 'all spans' : `${kind} spans`
}

export function Overview() {
  const { project } = useSession()
  const loc = useLocation()
  const { range: timeRange, setRange } = useTimeRange()
  const range = rangeQuery(timeRange) // for links that keep the range
  const zoom = (from: number, to: number) => setRange({ kind: 'absolute', from, to })
  const [refreshS, setRefreshS] = useStored<number>('lynex.refresh', 0)
  const [now, setNow] = useState(() => Date.now())
  useInterval(() => setNow(Date.now()), refreshS * 1000)
  const b = useMemo(() => boundsOf(timeRange, now), [rangeKey(timeRange), now]) // eslint-disable-line react-hooks/exhaustive-deps
  const [dim, setDim] = useState<Dim>('model')
  const pid = project.project_id
  const filters = filtersFrom(loc.params)
  const fq = filtersQuery(filters)
  const lk = latencyKind(loc.params.get('latency_kind'))
  const key = `${pid}|${b.from}|${b.to}|${fq}`
  const lat: Record<string, string> = lk === null ? {} : { latency_kind: lk }
  const metrics = (q: Record<string, string | number>) => (signal: AbortSignal) =>
    api<MetricsResponse>(projectPath(pid, '/metrics'), { query: { from: b.from, to: b.to, ...filters, ...q }, signal })

  const totals = useLoad(`${key}|${lk}`, metrics({ ...lat }))
  const series = useLoad(`${key}|${lk}`, metrics({ interval: b.interval, ...lat }))
  const breakdown = useLoad(`${key}|${dim}`, metrics({ group_by: dim, top: 12, top_by: 'count', latency_kind: LLM_CALL }))
  const topUsers = useLoad(key, metrics({ group_by: 'user_id', top: 6 }))
  const topSessions = useLoad(key, metrics({ group_by: 'session_id', top: 6 }))
  const topPrompts = useLoad(key, metrics({ group_by: 'prompt_name', top: 6 }))

  const t = total(totals.data)
  const cols = useMemo(
    () =>
      alignSeries(series.data?.series[0]?.points ?? [], b.from, b.to, b.intervalMs, [
        'traces', 'trace_errors', 'llm_calls', 'llm_errors', 'input_tokens', 'output_tokens', 'total_cost', 'p50_ms', 'p95_ms', 'p99_ms',
      ]),
    [series.data, b.from, b.to, b.intervalMs],
  )
  const [x, traces, traceErrors, llmCalls, llmErrors, inTok, outTok, cost, p50, p95, p99] = cols
  const empty = totals.data !== null && t.count === 0
  const filtered = fq !== ''
  const carry = (extra: string) => `${extra}&${range}${fq ? `&${fq}` : ''}`

  return (
    <div className="page">
      <header className="page-head">
        <h1>Overview</h1>
        <div className="toolbar">
          <Link to="/dashboards" className="btn small">
            Custom dashboard
          </Link>
          <TimeRangePicker value={timeRange} onChange={setRange} />
          <label className="inline">
            <span className="muted small">Auto-refresh</span>
            <select aria-label="Auto-refresh" value={refreshS} onChange={(e) => setRefreshS(Number(e.target.value))}>
              <option value={0}>Off</option>
              <option value={10}>10 s</option>
              <option value={30}>30 s</option>
              <option value={60}>1 min</option>
            </select>
          </label>
          <button type="button" className="btn" onClick={() => setNow(Date.now())} aria-label="Refresh now">
            ↻
          </button>
        </div>
      </header>
      <OverviewFilters pid={pid} from={b.from} to={b.to} filters={filters} />
      {totals.error && <ErrorBox error={totals.error} onRetry={totals.reload} />}
      <section className="stats" aria-label="Totals" data-loading={totals.loading || undefined}>
        <Stat testId="stat-traces" label="Traces" value={fmtInt(t.traces)} sub={`${fmtInt(t.trace_errors)} with an error`} />
        <Stat testId="stat-llm-calls" label="LLM calls" value={fmtInt(t.llm_calls)} sub={`${fmtInt(t.llm_errors)} in error`} />
        <Stat testId="stat-spans" label="Spans" value={fmtInt(t.count)} sub={`${fmtInt(t.errors)} in error`} />
        <Stat
          testId="stat-errors"
          label="Error rate"
          value={fmtPercent(rate(t.trace_errors, t.traces))}
          sub={`of traces (${fmtInt(t.trace_errors)} of ${fmtInt(t.traces)}) · LLM calls ${fmtPercent(rate(t.llm_errors, t.llm_calls))}`}
        />
        <Stat testId="stat-tokens" label="Tokens" value={fmtCompact(t.input_tokens + t.output_tokens)} sub={`${fmtCompact(t.input_tokens)} in · ${fmtCompact(t.output_tokens)} out`} />
        <Stat testId="stat-cost" label="Cost" value={fmtCost(t.total_cost)} />
        <Stat testId="stat-latency" label={`Latency p50 · ${kindLabel(lk)}`} value={fmtDuration(t.p50_ms)} sub={`p95 ${fmtDuration(t.p95_ms)} · p99 ${fmtDuration(t.p99_ms)}`} />
      </section>
      {empty ? (
        <EmptyState title={filtered ? 'No spans match these filters in this time range' : 'No spans in this time range'} testId="overview-empty">
          <p>{filtered ? 'Clear a filter, or pick a longer time range.' : 'Send a first trace to this project, or pick a longer time range.'}</p>
          {!filtered && (
            <Link to="/start" className="btn primary">
              How to send a first trace
            </Link>
          )}
        </EmptyState>
      ) : (
        <>
          <section className="charts" aria-label="Charts">
            <Chart onSelect={zoom} testId="chart-traces" title="Traces and traces with an error" data={[x, traces, traceErrors]} series={[
              { label: 'traces', color: C.blue, bars: true, fmt: fmtInt },
              { label: 'with an error', color: C.red, fmt: fmtInt },
            ]} yFmt={fmtCompact} />
            <Chart onSelect={zoom} testId="chart-llm-calls" title="LLM calls and errors" data={[x, llmCalls, llmErrors]} series={[
              { label: 'LLM calls', color: C.violet, bars: true, fmt: fmtInt },
              { label: 'in error', color: C.red, fmt: fmtInt },
            ]} yFmt={fmtCompact} />
            <Chart onSelect={zoom} testId="chart-tokens" title="Tokens" data={[x, inTok, outTok]} series={[
              { label: 'input', color: C.violet, fmt: fmtCompact },
              { label: 'output', color: C.teal, fmt: fmtCompact },
            ]} yFmt={fmtCompact} />
            <Chart onSelect={zoom} testId="chart-cost" title="Cost (USD)" data={[x, cost]} series={[{ label: 'cost', color: C.green, bars: true, fmt: fmtCost }]} yFmt={fmtCost} />
            <div className="chart-with-control">
              <LatencyKindPicker pid={pid} from={b.from} to={b.to} filters={filters} value={lk} />
              <Chart onSelect={zoom} testId="chart-latency" title={`Latency of ${kindLabel(lk)}`} data={[x, p50, p95, p99]} series={[
                { label: 'p50', color: C.blue, fmt: fmtDuration },
                { label: 'p95', color: C.amber, fmt: fmtDuration },
                { label: 'p99', color: C.red, fmt: fmtDuration, dash: true },
              ]} yFmt={fmtDuration} />
            </div>
          </section>
          <section className="card">
            <div className="card-head">
              <h2>Breakdown</h2>
              <Tabs label="Break down by" tabs={DIMS} value={dim} onChange={setDim} />
            </div>
            <table className="table" data-testid="breakdown">
              <thead>
                <tr>
                  <th>{DIMS.find((d) => d[0] === dim)![1]}</th>
                  <th className="num">Traces</th>
                  <th className="num">LLM calls</th>
                  <th className="num">Spans</th>
                  <th className="num">Error rate</th>
                  <th className="num">Tokens in / out</th>
                  <th className="num">Cost</th>
                  <th className="num" title="Latency of LLM calls">p50</th>
                  <th className="num" title="Latency of LLM calls">p95</th>
                </tr>
              </thead>
              <tbody>
                {totalsByGroup(breakdown.data, 'count').map((g) => (
                  <tr key={g.group}>
                    <td>
                      {g.group === '(none)' ? <span className="muted">(none)</span> : <Link to={`/traces?${carry(`${dim}=${encodeURIComponent(g.group)}`)}`}>{g.group}</Link>}
                    </td>
                    <td className="num">{fmtInt(g.traces)}</td>
                    <td className="num">{fmtInt(g.llm_calls)}</td>
                    <td className="num">{fmtInt(g.count)}</td>
                    <td className="num">{g.trace_errors ? <span className="err">{fmtPercent(rate(g.trace_errors, g.traces))}</span> : '0%'}</td>
                    <td className="num">{fmtCompact(g.input_tokens)} / {fmtCompact(g.output_tokens)}</td>
                    <td className="num">{fmtCost(g.total_cost)}</td>
                    <td className="num">{fmtDuration(g.p50_ms)}</td>
                    <td className="num">{fmtDuration(g.p95_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section className="tops">
            <TopList title="Costliest users" testId="top-users" data={topUsers.data} link={(g) => `/users/${encodeURIComponent(g)}?${range}`} />
            <TopList title="Costliest sessions" testId="top-sessions" data={topSessions.data} link={(g) => `/sessions/${encodeURIComponent(g)}?${range}`} />
            <TopList title="Costliest prompts" testId="top-prompts" data={topPrompts.data} link={(g) => `/prompts?name=${encodeURIComponent(g)}&${range}`} />
          </section>
        </>
      )}
    </div>
  )
}

interface FilterProps {
  pid: string
  from: number
  to: number
  filters: Record<string, string>
}

/** One select per filter; its choices are the values seen in the range (with the other filters applied). */
function OverviewFilters({ pid, from, to, filters }: FilterProps) {
  const active = Object.keys(filters).length > 0
  return (
    <div className="toolbar overview-filters" aria-label="Filters" role="group">
      {OVERVIEW_FILTERS.map(([key, label]) => (
        <FilterSelect key={key} pid={pid} from={from} to={to} filters={filters} name={key} label={label} />
      ))}
      {active && (
        <button type="button" className="chip clear" onClick={() => setParams(Object.fromEntries(OVERVIEW_FILTERS.map(([k]) => [k, null])))}>
          Clear filters
        </button>
      )}
    </div>
  )
}

function FilterSelect({ pid, from, to, filters, name, label }: FilterProps & { name: string; label: string }) {
  const others = Object.fromEntries(Object.entries(filters).filter(([k]) => k !== name))
  const options = useLoad(`${pid}|${from}|${to}|${name}|${filtersQuery(others)}`, (signal) =>
    api<MetricsResponse>(projectPath(pid, '/metrics'), { query: { from, to, ...others, group_by: name, top: 50, top_by: 'count' }, signal }),
  )
  const current = filters[name] ?? ''
  const values = totalsByGroup(options.data, 'count').map((g) => g.group).filter((g) => g !== '(none)')
  if (current && !values.includes(current)) values.unshift(current)
  return (
    <label className="inline">
      <span className="muted small">{label}</span>
      <select aria-label={label} data-testid={`filter-${name}`} value={current} onChange={(e) => setParams({ [name]: e.target.value || null })}>
        <option value="">All</option>
        {values.map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </select>
    </label>
  )
}

function LatencyKindPicker({ pid, from, to, filters, value }: FilterProps & { value: string | null }) {
  const kinds = useLoad(`${pid}|${from}|${to}|kinds|${filtersQuery(filters)}`, (signal) =>
    api<MetricsResponse>(projectPath(pid, '/metrics'), { query: { from, to, ...filters, group_by: 'kind' }, signal }),
  )
  const seen = totalsByGroup(kinds.data, 'count').map((g) => g.group).filter((g) => g !== '(none)')
  if (value && value !== LLM_CALL && !seen.includes(value)) seen.unshift(value)
  return (
    <label className="inline chart-control">
      <span className="muted small">Latency of</span>
      <select
        aria-label="Latency of"
        data-testid="latency-kind"
        value={value === null ? 'all' : value}
        onChange={(e) => setParams({ latency_kind: e.target.value === LLM_CALL ? null : e.target.value })}
      >
        <option value={LLM_CALL}>LLM calls</option>
        <option value="all">All spans</option>
        {seen.map((k) => (
          <option key={k} value={k}>
            {k} spans
          </option>
        ))}
      </select>
    </label>
  )
}

function TopList({ title, data, link, testId }: { title: string; data: MetricsResponse | null; link: (g: string) => string; testId: string }) {
  const rows = totalsByGroup(data).filter((g) => g.group !== '(none)')
  const max = Math.max(...rows.map((r) => r.total_cost), 0)
  return (
    <div className="card top-list" data-testid={testId}>
      <h2>{title}</h2>
      {rows.length === 0 ? (
        <p className="muted small">None in this range.</p>
      ) : (
        <ol>
          {rows.map((r) => (
            <li key={r.group}>
              <Link to={link(r.group)} className="top-name" title={r.group}>
                {r.group}
              </Link>
              <span className="bar" style={{ width: `${max ? (r.total_cost / max) * 100 : 0}%` }} aria-hidden />
              <span className="num">{fmtCost(r.total_cost)}</span>
              <span className="muted small num">{fmtInt(r.traces)} traces</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  )
}
