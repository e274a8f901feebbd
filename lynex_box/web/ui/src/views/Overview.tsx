// The overview dashboard: totals, four charts over time, a breakdown by a dimension, and the costliest
// users, sessions and prompts. Seven metrics queries, each one aggregate over the chosen range.
import { useMemo, useState } from 'react'
import { api, projectPath } from '../lib/api'
import { fmtCompact, fmtCost, fmtDuration, fmtInt, fmtPercent } from '../lib/format'
import { useInterval, useLoad, useStored } from '../lib/hooks'
import { alignSeries, total, totalsByGroup } from '../lib/metrics'
import type { MetricsResponse } from '../lib/metrics'
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

export function Overview() {
  const { project } = useSession()
  const { range: timeRange, setRange } = useTimeRange()
  const range = rangeQuery(timeRange) // for links that keep the range
  const zoom = (from: number, to: number) => setRange({ kind: 'absolute', from, to })
  const [refreshS, setRefreshS] = useStored<number>('lynex.refresh', 0)
  const [now, setNow] = useState(() => Date.now())
  useInterval(() => setNow(Date.now()), refreshS * 1000)
  const b = useMemo(() => boundsOf(timeRange, now), [rangeKey(timeRange), now]) // eslint-disable-line react-hooks/exhaustive-deps
  const [dim, setDim] = useState<Dim>('model')
  const pid = project.project_id
  const key = `${pid}|${b.from}|${b.to}`
  const metrics = (q: Record<string, string | number>) => (signal: AbortSignal) =>
    api<MetricsResponse>(projectPath(pid, '/metrics'), { query: { from: b.from, to: b.to, ...q }, signal })

  const totals = useLoad(key, metrics({}))
  const series = useLoad(key, metrics({ interval: b.interval }))
  const breakdown = useLoad(`${key}|${dim}`, metrics({ group_by: dim, top: 12, top_by: 'count' }))
  const topUsers = useLoad(key, metrics({ group_by: 'user_id', top: 6 }))
  const topSessions = useLoad(key, metrics({ group_by: 'session_id', top: 6 }))
  const topPrompts = useLoad(key, metrics({ group_by: 'prompt_name', top: 6 }))

  const t = total(totals.data)
  const cols = useMemo(
    () =>
      alignSeries(series.data?.series[0]?.points ?? [], b.from, b.to, b.intervalMs, [
        'count', 'errors', 'input_tokens', 'output_tokens', 'total_cost', 'p50_ms', 'p95_ms', 'p99_ms',
      ]),
    [series.data, b.from, b.to, b.intervalMs],
  )
  const [x, count, errors, inTok, outTok, cost, p50, p95, p99] = cols
  const empty = totals.data !== null && t.count === 0

  return (
    <div className="page">
      <header className="page-head">
        <h1>Overview</h1>
        <div className="toolbar">
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
      {totals.error && <ErrorBox error={totals.error} onRetry={totals.reload} />}
      <section className="stats" aria-label="Totals" data-loading={totals.loading || undefined}>
        <Stat testId="stat-requests" label="Requests" value={fmtInt(t.count)} sub="spans" />
        <Stat testId="stat-errors" label="Errors" value={fmtInt(t.errors)} sub={t.count ? fmtPercent(t.errors / t.count) : '—'} />
        <Stat testId="stat-tokens" label="Tokens" value={fmtCompact(t.input_tokens + t.output_tokens)} sub={`${fmtCompact(t.input_tokens)} in · ${fmtCompact(t.output_tokens)} out`} />
        <Stat testId="stat-cost" label="Cost" value={fmtCost(t.total_cost)} />
        <Stat testId="stat-latency" label="Latency p50" value={fmtDuration(t.p50_ms)} sub={`p95 ${fmtDuration(t.p95_ms)} · p99 ${fmtDuration(t.p99_ms)}`} />
      </section>
      {empty ? (
        <EmptyState title="No spans in this time range" testId="overview-empty">
          <p>Send a first trace to this project, or pick a longer time range.</p>
          <Link to="/start" className="btn primary">
            How to send a first trace
          </Link>
        </EmptyState>
      ) : (
        <>
          <section className="charts" aria-label="Charts">
            <Chart onSelect={zoom} testId="chart-requests" title="Requests and errors" data={[x, count, errors]} series={[
              { label: 'requests', color: C.blue, bars: true, fmt: fmtInt },
              { label: 'errors', color: C.red, fmt: fmtInt },
            ]} yFmt={fmtCompact} />
            <Chart onSelect={zoom} testId="chart-tokens" title="Tokens" data={[x, inTok, outTok]} series={[
              { label: 'input', color: C.violet, fmt: fmtCompact },
              { label: 'output', color: C.teal, fmt: fmtCompact },
            ]} yFmt={fmtCompact} />
            <Chart onSelect={zoom} testId="chart-cost" title="Cost (USD)" data={[x, cost]} series={[{ label: 'cost', color: C.green, bars: true, fmt: fmtCost }]} yFmt={fmtCost} />
            <Chart onSelect={zoom} testId="chart-latency" title="Latency" data={[x, p50, p95, p99]} series={[
              { label: 'p50', color: C.blue, fmt: fmtDuration },
              { label: 'p95', color: C.amber, fmt: fmtDuration },
              { label: 'p99', color: C.red, fmt: fmtDuration, dash: true },
            ]} yFmt={fmtDuration} />
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
                  <th className="num">Requests</th>
                  <th className="num">Errors</th>
                  <th className="num">Tokens in / out</th>
                  <th className="num">Cost</th>
                  <th className="num">p50</th>
                  <th className="num">p95</th>
                </tr>
              </thead>
              <tbody>
                {totalsByGroup(breakdown.data, 'count').map((g) => (
                  <tr key={g.group}>
                    <td>
                      {g.group === '(none)' ? <span className="muted">(none)</span> : <Link to={`/traces?${dim}=${encodeURIComponent(g.group)}&${range}`}>{g.group}</Link>}
                    </td>
                    <td className="num">{fmtInt(g.count)}</td>
                    <td className="num">{g.errors ? <span className="err">{fmtInt(g.errors)}</span> : 0}</td>
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
            <TopList title="Costliest users" testId="top-users" data={topUsers.data} link={(g) => `/traces?user_id=${encodeURIComponent(g)}&${range}`} />
            <TopList title="Costliest sessions" testId="top-sessions" data={topSessions.data} link={(g) => `/sessions/${encodeURIComponent(g)}?${range}`} />
            <TopList title="Costliest prompts" testId="top-prompts" data={topPrompts.data} link={(g) => `/prompts?name=${encodeURIComponent(g)}&${range}`} />
          </section>
        </>
      )}
    </div>
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
              <Link to={link(r.group)} className="top-name">
                {r.group}
              </Link>
              <span className="bar" style={{ width: `${max ? (r.total_cost / max) * 100 : 0}%` }} aria-hidden />
              <span className="num">{fmtCost(r.total_cost)}</span>
              <span className="muted small num">{fmtInt(r.count)} req</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  )
}
