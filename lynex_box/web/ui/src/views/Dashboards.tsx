// The project's custom dashboard: charts of any metric grouped by any dimension, as lines over time or bars per
// group, added, arranged (move up/down or drag), removed and saved for the whole project
// (GET/PUT /api/projects/{id}/dashboard). Members with write access edit; viewers see the saved charts.
import { useEffect, useMemo, useState } from 'react'
import { adminPath, api, projectPath } from '../lib/api'
import { chartQuery, chartTitle, DIMENSIONS, dimensionLabel, METRICS, metricDef, move, newChartId } from '../lib/dashboard'
import type { ChartSpec, ChartType, Dashboard, DimensionKey, MetricKey } from '../lib/dashboard'
import { fmtTime } from '../lib/format'
import { useLoad } from '../lib/hooks'
import { bucketStarts } from '../lib/timerange'
import { totalsByGroup } from '../lib/metrics'
import type { MetricsResponse, Point } from '../lib/metrics'
import { boundsOf } from '../lib/timerange'
import type { TimeRange } from '../lib/timerange'
import { useTimeRange } from '../lib/useRange'
import { useSession } from '../session'
import { Chart } from '../components/Chart'
import { EmptyState, ErrorBox } from '../components/ui'
import { TimeRangePicker } from '../components/TimeRangePicker'

const PALETTE = ['#3b82f6', '#ef4444', '#10b981', '#f59e0b', '#8b5cf6', '#14b8a6', '#ec4899', '#64748b']

export function Dashboards() {
  const { project, canWrite } = useSession()
  const pid = project.project_id
  const { range, setRange } = useTimeRange()
  const saved = useLoad(pid, (signal) => api<Dashboard>(adminPath(pid, '/dashboard'), { signal }))
  const [charts, setCharts] = useState<ChartSpec[] | null>(null)
  const [saving, setSaving] = useState(false)
  const [saveError, setSaveError] = useState<Error | null>(null)
  const [dragged, setDragged] = useState<number | null>(null)
  useEffect(() => {
    if (saved.data) setCharts(saved.data.charts)
  }, [saved.data])
  const shown = charts ?? []
  const dirty = saved.data !== null && JSON.stringify(shown) !== JSON.stringify(saved.data.charts)

  const save = async () => {
    setSaving(true)
    setSaveError(null)
    try {
      await api<Dashboard>(adminPath(pid, '/dashboard'), { method: 'PUT', body: { charts: shown } })
      saved.reload()
    } catch (err) {
      setSaveError(err as Error)
    } finally {
      setSaving(false)
    }
  }

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Custom dashboard</h1>
          <p className="muted small" data-testid="dashboard-saved">
            {saved.data?.updated_at ? `Saved ${fmtTime(saved.data.updated_at / 1000)} by ${saved.data.updated_by}` : 'Not saved yet'}
            {!canWrite && ' · you can view this dashboard; members with write access can change it'}
          </p>
        </div>
        <div className="toolbar">
          <TimeRangePicker value={range} onChange={setRange} />
          {canWrite && (
            <>
              <button type="button" className="btn" disabled={!dirty || saving} onClick={() => saved.data && setCharts(saved.data.charts)}>
                Discard changes
              </button>
              <button type="button" className="btn primary" disabled={!dirty || saving} onClick={() => void save()}>
                {saving ? 'Saving…' : 'Save dashboard'}
              </button>
            </>
          )}
        </div>
      </header>
      {saved.error && <ErrorBox error={saved.error} onRetry={saved.reload} />}
      {saveError && <ErrorBox error={saveError} />}
      {canWrite && <AddChart onAdd={(c) => setCharts([...shown, { ...c, id: newChartId(shown) }])} />}
      {saved.data && shown.length === 0 && (
        <EmptyState title="No charts yet" testId="dashboard-empty">
          <p>{canWrite ? 'Pick a metric and what to group it by above, then save the dashboard for everyone in the project.' : 'Nobody has added a chart to this project’s dashboard yet.'}</p>
        </EmptyState>
      )}
      <section className="dash-grid" aria-label="Dashboard charts">
        {shown.map((c, i) => (
          <div
            key={c.id}
            className={`card dash-chart${dragged === i ? ' dragging' : ''}`}
            data-testid="dash-chart"
            data-chart-id={c.id}
            draggable={canWrite}
            onDragStart={() => setDragged(i)}
            onDragEnd={() => setDragged(null)}
            onDragOver={(e) => canWrite && dragged !== null && e.preventDefault()}
            onDrop={() => {
              if (dragged !== null) setCharts(move(shown, dragged, i - dragged))
              setDragged(null)
            }}
          >
            <div className="card-head">
              <h2 className="ellipsis" title={chartTitle(c)}>{chartTitle(c)}</h2>
              {canWrite && (
                <div className="toolbar">
                  <button type="button" className="btn small" aria-label={`Move ${chartTitle(c)} up`} disabled={i === 0} onClick={() => setCharts(move(shown, i, -1))}>
                    ↑
                  </button>
                  <button type="button" className="btn small" aria-label={`Move ${chartTitle(c)} down`} disabled={i === shown.length - 1} onClick={() => setCharts(move(shown, i, 1))}>
                    ↓
                  </button>
                  <button type="button" className="btn small" aria-label={`Remove ${chartTitle(c)}`} onClick={() => setCharts(shown.filter((_, j) => j !== i))}>
                    ✕
                  </button>
                </div>
              )}
            </div>
            <DashChart pid={pid} range={range} spec={c} />
          </div>
        ))}
      </section>
    </div>
  )
}

function AddChart({ onAdd }: { onAdd: (c: Omit<ChartSpec, 'id'>) => void }) {
  const [metric, setMetric] = useState<MetricKey>('traces')
  const [group, setGroup] = useState<DimensionKey | ''>('model')
  const [chart, setChart] = useState<ChartType>('line')
  const [title, setTitle] = useState('')
  return (
    <form
      className="card toolbar add-chart"
      aria-label="Add a chart"
      onSubmit={(e) => {
        e.preventDefault()
        onAdd({ title: title.trim(), metric, group_by: group || null, chart })
        setTitle('')
      }}
    >
      <label className="inline">
        <span className="muted small">Metric</span>
        <select aria-label="Metric" value={metric} onChange={(e) => setMetric(e.target.value as MetricKey)}>
          {METRICS.map((m) => (
            <option key={m.key} value={m.key}>
              {m.label}
            </option>
          ))}
        </select>
      </label>
      <label className="inline">
        <span className="muted small">Grouped by</span>
        <select aria-label="Grouped by" value={group} onChange={(e) => setGroup(e.target.value as DimensionKey | '')}>
          <option value="">Nothing (one total)</option>
          {DIMENSIONS.map(([k, label]) => (
            <option key={k} value={k}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label className="inline">
        <span className="muted small">Chart</span>
        <select aria-label="Chart type" value={chart} onChange={(e) => setChart(e.target.value as ChartType)}>
          <option value="line">Line over time</option>
          <option value="bar">Bars per group</option>
        </select>
      </label>
      <label className="inline">
        <span className="muted small">Title</span>
        <input aria-label="Chart title" value={title} maxLength={120} placeholder={chartTitle({ id: '', title: '', metric, group_by: group || null, chart })} onChange={(e) => setTitle(e.target.value)} />
      </label>
      <button type="submit" className="btn primary">
        Add chart
      </button>
    </form>
  )
}

function DashChart({ pid, range, spec }: { pid: string; range: TimeRange; spec: ChartSpec }) {
  const b = boundsOf(range, Date.now())
  const q = chartQuery(spec)
  const line = spec.chart === 'line'
  const key = `${pid}|${b.from}|${b.to}|${JSON.stringify(q)}|${spec.chart}`
  const res = useLoad(key, (signal) =>
    api<MetricsResponse>(projectPath(pid, '/metrics'), { query: { from: b.from, to: b.to, ...q, ...(line ? { interval: b.interval } : {}) }, signal }),
  )
  const def = metricDef(spec.metric)
  const lineData = useMemo(() => {
    if (!line || !res.data) return null
    const groups = res.data.series
    const starts = bucketStarts(b.from, b.to, b.intervalMs)
    const cols = groups.map((s) => {
      const byT = new Map(s.points.map((p) => [p.t ? Date.parse(p.t) : 0, p]))
      return starts.map((t) => {
        const p = byT.get(t)
        return p ? def.value(p) : def.empty
      })
    })
    const x: (number | null)[] = starts.map((t) => t / 1000)
    return { data: [x, ...cols], labels: groups.map((s) => s.group) }
  }, [line, res.data, b.from, b.to, b.intervalMs, def])
  if (res.error) return <ErrorBox error={res.error} onRetry={res.reload} />
  if (!res.data) return <div className="muted small">Loading…</div>
  if (res.data.series.length === 0) return <p className="muted small">No data in this range.</p>
  if (lineData) {
    return (
      <Chart
        testId={`dash-line-${spec.id}`}
        title={spec.group_by ? `by ${dimensionLabel(spec.group_by).toLowerCase()}` : def.label}
        data={lineData.data}
        series={lineData.labels.map((g, i) => ({ label: spec.group_by ? g : def.label, color: PALETTE[i % PALETTE.length], fmt: def.fmt }))}
        yFmt={def.fmt}
      />
    )
  }
  return <Bars spec={spec} res={res.data} />
}

/** Bars per group (the group's value over the whole range), largest first, with the value as text. */
function Bars({ spec, res }: { spec: ChartSpec; res: MetricsResponse }) {
  const def = metricDef(spec.metric)
  const rows = totalsByGroup(res, 'count')
    .map((g) => ({ group: spec.group_by ? g.group : def.label, value: def.value(g as Point) ?? null }))
    .sort((a, b) => (b.value ?? -1) - (a.value ?? -1))
  const max = Math.max(...rows.map((r) => r.value ?? 0), 0)
  return (
    <ol className="dash-bars" data-testid={`dash-bars-${spec.id}`}>
      {rows.map((r) => (
        <li key={r.group} data-testid="dash-bar">
          <span className="top-name" title={r.group}>
            {r.group}
          </span>
          <span className="bar-track">
            <span className="bar" style={{ width: `${max && r.value ? (r.value / max) * 100 : 0}%` }} aria-hidden />
          </span>
          <span className="num" data-testid="dash-bar-value">
            {r.value === null ? '—' : def.fmt(r.value)}
          </span>
        </li>
      ))}
    </ol>
  )
}

