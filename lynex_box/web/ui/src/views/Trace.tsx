// One trace: a waterfall of its spans as a foldable tree (virtualised: 30,000 spans stay fast),
// and the selected span's details: conversation, tool calls, tokens, cost, errors, attributes.
import { useEffect, useMemo, useRef, useState } from 'react'
import type { PointerEvent as ReactPointerEvent, ReactNode } from 'react'
import { api, projectPath } from '../lib/api'
import { fmtCompact, fmtCost, fmtDuration, fmtInt, fmtTime } from '../lib/format'
import { useKeys, useLoad } from '../lib/hooks'
import { isLlmCall } from '../lib/kinds'
import { mappedColumns } from '../lib/mapped'
import { renderValue, spanToolCalls } from '../lib/messages'
import type { ToolCall } from '../lib/messages'
import { setParams, useLocation } from '../lib/router'
import { ancestors, buildTree, descendantCount, siblingOrdinal, visibleRows } from '../lib/tree'
import type { SpanLike } from '../lib/tree'
import { retrievedDocuments } from '../lib/documents'
import type { RetrievedDocument } from '../lib/documents'
import { barIn, FULL, isZoomed, windowOfDrag, zoomBy } from '../lib/zoom'
import type { TimeWindow } from '../lib/zoom'
import { useSession } from '../session'
import { AgentGraphView } from '../components/AgentGraphView'
import { ToolCallCard, ValueView } from '../components/Conversation'
import { CopyButton } from '../components/CopyButton'
import { VirtualList } from '../components/VirtualList'
import type { VirtualListHandle } from '../components/VirtualList'
import { ErrorBox, JsonView, Link, StatusBadge, Tabs } from '../components/ui'
import { TraceDeleteButton } from '../components/DeleteData'

/** What the outline gives for every span (null values are left out by the server). */
export interface OutlineSpan extends SpanLike {
  name?: string | null
  kind?: string | null
  status?: string | null
  model?: string | null
  input_tokens?: number | null
  output_tokens?: number | null
  total_cost?: number | null
  tool_calls?: unknown
}

/** One span with every column, loaded when it is selected. */
export interface Span extends SpanLike {
  event_id: string
  trace_id: string
  name: string | null
  kind: string | null
  status: string | null
  status_message: string | null
  provider: string | null
  model: string | null
  response_model: string | null
  input_tokens: number | null
  output_tokens: number | null
  cached_tokens: number | null
  reasoning_tokens: number | null
  total_tokens: number | null
  input_cost: number | null
  output_cost: number | null
  total_cost: number | null
  cost_source: string | null
  input: unknown
  output: unknown
  tool_calls: unknown
  attributes: Record<string, unknown> | null
  session_id: string | null
  user_id: string | null
  environment: string | null
  release: string | null
  tags: string[] | null
  prompt_name: string | null
  prompt_version: string | null
  source: string | null
  // model metadata, fingerprints and raw-text sampling (docs/models.md); absent in spans stored before them
  model_id?: string | null
  model_provider?: string | null
  model_family?: string | null
  context_window?: number | null
  modalities?: string[] | null
  request_fingerprint?: string | null
  system_fingerprint?: string | null
  text_sampled_out?: boolean | null
}

/** The trace-level fields of the outline (`merged_trace`: the root span's, or Langfuse's trace-level values). */
export interface TraceFields {
  name?: string | null
  user_id?: string | null
  session_id?: string | null
  input?: unknown
  output?: unknown
}

const ROW = 28
const MAX_INDENT = 30

/** The absolute address of a trace with one span selected (what "Copy link" copies). */
export function shareUrl(traceId: string, spanId?: string): string {
  const path = `/ui/traces/${encodeURIComponent(traceId)}${spanId ? `?span=${encodeURIComponent(spanId)}` : ''}`
  return `${window.location.origin}${path}`
}

export function TraceView({ traceId }: { traceId: string }) {
  const { project } = useSession()
  const res = useLoad(`${project.project_id}|${traceId}`, (signal) =>
    api<{ trace_id: string; trace?: TraceFields | null; spans: OutlineSpan[] }>(projectPath(project.project_id, `/traces/${encodeURIComponent(traceId)}/outline`), { signal }),
  )
  if (res.error) {
    return (
      <div className="page">
        <BackLink />
        <ErrorBox error={res.error} onRetry={res.reload} />
      </div>
    )
  }
  if (!res.data) return <div className="page muted" data-testid="trace-loading">Loading trace…</div>
  return <TraceBody spans={res.data.spans} traceId={traceId} trace={res.data.trace ?? {}} />
}

function BackLink() {
  return (
    <Link to="/traces" className="back">
      ← Traces
    </Link>
  )
}

export interface Score {
  id: string
  span_id: string | null
  name: string
  value: number | null
  string_value: string | null
  comment: string | null
  source: string | null
}

function TraceBody({ spans, traceId, trace }: { spans: OutlineSpan[]; traceId: string; trace: TraceFields }) {
  const { project } = useSession()
  const scoreRes = useLoad(`scores|${project.project_id}|${traceId}`, (signal) =>
    api<{ items: Score[] }>(projectPath(project.project_id, '/scores'), { query: { trace_id: traceId, limit: 200 }, signal, quiet: true }).catch(
      () => ({ items: [] as Score[] }),
    ),
  )
  const scores = scoreRes.data?.items ?? []
  const loc = useLocation()
  const tree = useMemo(() => buildTree(spans), [spans])
  const [folded, setFolded] = useState<Set<number>>(() => new Set())
  const rows = useMemo(() => visibleRows(tree, folded), [tree, folded])
  const spanParam = loc.params.get('span')
  const found = spanParam ? spans.findIndex((s) => s.span_id === spanParam) : -1
  const initial = found >= 0 ? found : (tree.roots[0] ?? 0)
  const [sel, setSel] = useState(initial)
  const list = useRef<VirtualListHandle>(null)
  const [find, setFind] = useState('')
  const total = useMemo(() => summarise(spans), [spans])
  const results = useMemo(() => toolResultsById(spans), [spans])
  const span = spans[sel]
  const rowOfSel = rows.indexOf(sel)
  const width = Math.max(1, tree.maxUs - tree.minUs)
  const [zoom, setZoom] = useState<TimeWindow>(FULL)
  const tab = loc.params.get('view') === 'graph' ? 'graph' : 'waterfall'

  useEffect(() => {
    if (rowOfSel >= 0) list.current?.scrollToIndex(rowOfSel)
  }, [rowOfSel])

  function select(i: number) {
    setSel(i)
    const hidden = ancestors(tree, i).filter((a) => folded.has(a))
    if (hidden.length) {
      const next = new Set(folded)
      hidden.forEach((a) => next.delete(a))
      setFolded(next)
    }
    setParams({ span: spans[i].span_id })
  }
  function toggle(i: number) {
    const next = new Set(folded)
    if (next.has(i)) next.delete(i)
    else next.add(i)
    setFolded(next)
  }
  function step(d: number) {
    const at = rows.indexOf(sel)
    const next = rows[Math.max(0, Math.min(rows.length - 1, (at < 0 ? 0 : at) + d))]
    if (next !== undefined) select(next)
  }
  function findNext() {
    const q = find.trim().toLowerCase()
    if (!q) return
    for (let k = 1; k <= spans.length; k++) {
      const i = (sel + k) % spans.length
      if ((spans[i].name ?? '').toLowerCase().includes(q) || spans[i].span_id.toLowerCase() === q) {
        select(i)
        return
      }
    }
  }
  useKeys({
    j: () => step(1),
    k: () => step(-1),
    ArrowDown: (e) => {
      e.preventDefault()
      step(1)
    },
    ArrowUp: (e) => {
      e.preventDefault()
      step(-1)
    },
    ArrowLeft: () => {
      if (tree.children[sel].length && !folded.has(sel)) toggle(sel)
      else {
        const a = ancestors(tree, sel)
        if (a.length) select(a[a.length - 1])
      }
    },
    ArrowRight: () => {
      if (folded.has(sel)) toggle(sel)
    },
  })

  return (
    <div className="page page-fill trace-page">
      <header className="page-head">
        <div>
          <BackLink />
          <h1 className="ellipsis" data-testid="trace-title">
            {trace.name ?? spans[tree.roots[0]]?.name ?? traceId}
          </h1>
          <div className="row id-row">
            <span className="muted small mono" data-testid="trace-id">
              {traceId}
            </span>
            <CopyButton text={traceId} label="Copy trace id" testId="copy-trace-id" />
            <CopyButton text={shareUrl(traceId, spans[sel]?.span_id)} label="Copy link to this trace and span" testId="copy-link">
              Copy link
            </CopyButton>
          </div>
        </div>
        <dl className="facts">
          <Fact label="Start" value={fmtTime(spans[tree.roots[0]]?.start_time, true)} />
          <Fact label="Duration" value={fmtDuration(width / 1000)} />
          <Fact label="Spans" value={fmtInt(spans.length)} testId="trace-span-count" />
          <Fact label="LLM calls" value={fmtInt(total.llmCalls)} testId="trace-llm-calls" />
          <Fact label="Tokens" value={`${fmtCompact(total.input)} / ${fmtCompact(total.output)}`} />
          <Fact label="Cost" value={fmtCost(total.cost)} />
          <Fact label="Errors" value={fmtInt(total.errors)} />
          <Fact label="User" value={trace.user_id ? <Link to={`/users/${encodeURIComponent(trace.user_id)}`} testId="trace-user" title={trace.user_id}>{trace.user_id}</Link> : '—'} />
          <Fact label="Session" value={trace.session_id ? <Link to={`/sessions/${encodeURIComponent(trace.session_id)}`} testId="trace-session" title={trace.session_id}>{trace.session_id}</Link> : '—'} />
        </dl>
        <TraceDeleteButton traceId={traceId} />
      </header>
      <TraceIO pid={project.project_id} traceId={traceId} trace={trace} spans={spans} />
      <div className="trace-split">
        <section className="waterfall" aria-label="Spans">
          <div className="waterfall-tabs">
            <Tabs
              label="Trace views"
              tabs={[
                ['waterfall', 'Waterfall'],
                ['graph', 'Agent graph'],
              ]}
              value={tab}
              onChange={(t) => setParams({ view: t === 'graph' ? 'graph' : null })}
            />
          </div>
          {tab === 'graph' ? (
            <AgentGraphView spans={spans} selected={sel} onSelect={select} />
          ) : (
          <>
          <div className="waterfall-tools">
            <form
              onSubmit={(e) => {
                e.preventDefault()
                findNext()
              }}
            >
              <input value={find} onChange={(e) => setFind(e.target.value)} placeholder="Find span by name…" aria-label="Find span" />
            </form>
            <button type="button" className="btn small" onClick={() => setFolded(new Set())}>
              Expand all
            </button>
            <button
              type="button"
              className="btn small"
              onClick={() => setFolded(new Set(tree.roots.flatMap((r) => tree.children[r]).filter((i) => tree.children[i].length)))}
            >
              Collapse
            </button>
            <span className="zoom-tools" role="group" aria-label="Timeline zoom">
              <button type="button" className="btn small" aria-label="Zoom out" title="Zoom out" disabled={!isZoomed(zoom)} onClick={() => setZoom(zoomBy(zoom, 2))}>
                −
              </button>
              <button type="button" className="btn small" aria-label="Zoom in" title="Zoom in (or drag on the time axis)" onClick={() => setZoom(zoomBy(zoom, 0.5))}>
                +
              </button>
              <button type="button" className="btn small" aria-label="Reset zoom" disabled={!isZoomed(zoom)} onClick={() => setZoom(FULL)}>
                Reset
              </button>
            </span>
          </div>
          <div className="waterfall-head">
            <span>Span</span>
            <TimeAxis zoom={zoom} widthUs={width} onZoom={setZoom} />
          </div>
          <VirtualList
            ref={list}
            count={rows.length}
            rowHeight={ROW}
            label="Span tree"
            testId="span-tree"
            render={(r) => {
              const i = rows[r]
              const s = spans[i]
              const d = tree.depth[i]
              const kids = tree.children[i].length
              const bar = barIn(zoom, (tree.startUs[i] - tree.minUs) / width, (tree.endUs[i] - tree.minUs) / width)
              const left = bar?.left ?? 0
              const w = Math.max(0.2, bar?.width ?? 0)
              const ordinal = siblingOrdinal(tree, spans, i)
              return (
                <div
                  className={`span-row ${i === sel ? 'selected' : ''} ${s.status === 'error' ? 'is-error' : ''}`}
                  data-testid="span-row"
                  onClick={() => select(i)}
                  role="listitem"
                  aria-selected={i === sel}
                >
                  <div className="span-label" style={{ paddingLeft: Math.min(d, MAX_INDENT) * 14 + 4 }}>
                    {kids ? (
                      <button
                        type="button"
                        className="fold"
                        aria-label={folded.has(i) ? 'Expand' : 'Collapse'}
                        onClick={(e) => {
                          e.stopPropagation()
                          toggle(i)
                        }}
                      >
                        {folded.has(i) ? '▸' : '▾'}
                      </button>
                    ) : (
                      <span className="fold" />
                    )}
                    {d > MAX_INDENT && <span className="muted small">{d}·</span>}
                    <span className={`kind kind-${s.kind ?? 'span'}`}>{s.kind ?? 'span'}</span>
                    <span className="ellipsis" title={s.name ?? undefined} data-testid="span-name-cell">
                      {s.name ?? '(unnamed)'}
                    </span>
                    {ordinal > 0 && (
                      <span className="muted small nowrap" title={`${ordinal}. of the ${s.name ?? '(unnamed)'} spans under one parent`}>
                        #{ordinal}
                      </span>
                    )}
                    {folded.has(i) && (
                      <span className="muted small nowrap" title={`${descendantCount(tree, i)} spans folded under ${s.name ?? '(unnamed)'}`}>
                        {' '}+{descendantCount(tree, i)}
                      </span>
                    )}
                  </div>
                  <div className="span-bar-track">
                    {bar && <div className={`span-bar kind-bar-${s.kind ?? 'span'}`} style={{ left: `${left}%`, width: `${w}%` }} />}
                    {bar && (
                      <span className="span-dur" style={{ left: `${Math.min(left + w, 100)}%` }}>
                        {fmtDuration(s.duration_ms)}
                      </span>
                    )}
                  </div>
                </div>
              )
            }}
          />
          </>
          )}
        </section>
        <section className="span-detail" aria-label="Span details" data-testid="span-detail">
          {span && (
            <LazySpanDetail
              pid={project.project_id}
              traceId={traceId}
              outline={span}
              results={results}
              scores={scores.filter((x) => x.span_id === span.span_id || (!x.span_id && sel === tree.roots[0]))}
            />
          )}
        </section>
      </div>
    </div>
  )
}

function Fact({ label, value, testId }: { label: string; value: ReactNode; testId?: string }) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  )
}

function summarise(spans: OutlineSpan[]) {
  let input = 0
  let output = 0
  let cost = 0
  let errors = 0
  let llmCalls = 0
  for (const s of spans) {
    if (isLlmCall(s.kind)) llmCalls++
    input += s.input_tokens ?? 0
    output += s.output_tokens ?? 0
    cost += s.total_cost ?? 0
    if (s.status === 'error') errors++
  }
  return { input, output, cost, errors, llmCalls }
}

/** Results of tool calls by call id, from tool spans, to show under the model's request. */
function toolResultsById(spans: OutlineSpan[]): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const s of spans) {
    if (!s.tool_calls) continue
    for (const c of spanToolCalls(s.tool_calls)) if (c.id && c.result !== undefined) out.set(c.id, c.result)
  }
  return out
}

const detailCache = new Map<string, Span>()

/** Shows what the outline knows at once, then the whole span once it has loaded. */
function LazySpanDetail({ pid, traceId, outline, results, scores }: { pid: string; traceId: string; outline: OutlineSpan; results: Map<string, unknown>; scores: Score[] }) {
  const cacheKey = `${pid}|${traceId}|${outline.span_id}`
  const res = useLoad(cacheKey, async (signal) => {
    const hit = detailCache.get(cacheKey)
    if (hit) return hit
    const span = await api<Span>(projectPath(pid, `/traces/${encodeURIComponent(traceId)}/spans/${encodeURIComponent(outline.span_id)}`), { signal })
    if (detailCache.size > 500) detailCache.clear()
    detailCache.set(cacheKey, span)
    return span
  })
  const full = res.data && res.data.span_id === outline.span_id ? res.data : null
  if (res.error && !full) return <ErrorBox error={res.error} onRetry={res.reload} />
  return <SpanDetail span={full ?? (outline as unknown as Span)} traceId={traceId} results={results} loading={!full} scores={scores} />
}

function SpanDetail({ span, traceId, results, loading, scores }: { span: Span; traceId: string; results: Map<string, unknown>; loading: boolean; scores: Score[] }) {
  const shown = loading ? [] : toolCallsInMessages(span)
  const calls = spanToolCalls(span.tool_calls).filter((c) => !shown.some((m) => sameCall(m, c)))
  const attrs = span.attributes ?? {}
  const mapped = loading ? [] : mappedColumns(span)
  const params = (attrs as Record<string, unknown>).model_parameters
  const errorType = (attrs as Record<string, unknown>)['error.type']
  const docs = loading ? [] : retrievedDocuments(span.attributes, span.output, span.kind)
  return (
    <div className="detail" key={span.span_id}>
      <div className="detail-head">
        <span className={`kind kind-${span.kind ?? 'span'}`}>{span.kind ?? 'span'}</span>
        <h2 className="ellipsis" data-testid="span-name">
          {span.name ?? '(unnamed)'}
        </h2>
        <StatusBadge status={span.status} />
      </div>
      <dl className="kv">
        <dt>Start</dt>
        <dd className="mono small">{fmtTime(span.start_time, true)}</dd>
        <dt>Duration</dt>
        <dd>{fmtDuration(span.duration_ms)}</dd>
        {span.model && (
          <>
            <dt>Model</dt>
            <dd>
              {span.provider ? `${span.provider} · ` : ''}
              {span.model}
              {span.response_model && span.response_model !== span.model ? ` → ${span.response_model}` : ''}
            </dd>
          </>
        )}
        {span.model_id && (
          <>
            <dt>Canonical model</dt>
            <dd data-testid="span-model-meta">
              {span.model_provider ? `${span.model_provider} · ` : ''}
              {span.model_id}
              {span.model_family ? <span className="muted small"> (family {span.model_family})</span> : null}
              {span.context_window ? <span className="muted small"> · {fmtInt(span.context_window)} tokens context</span> : null}
              {span.modalities && span.modalities.length > 0 ? <span className="muted small"> · {span.modalities.join(', ')}</span> : null}
            </dd>
          </>
        )}
        {span.request_fingerprint && (
          <>
            <dt>Fingerprint</dt>
            <dd className="mono small" data-testid="span-fingerprint" title="model, system prompt and parameters (docs/models.md)">
              {span.request_fingerprint}
              {span.system_fingerprint ? <span className="muted"> · provider {span.system_fingerprint}</span> : null}
            </dd>
          </>
        )}
        {(span.input_tokens != null || span.output_tokens != null) && (
          <>
            <dt>Tokens</dt>
            <dd data-testid="span-tokens">
              {fmtInt(span.input_tokens ?? 0)} in · {fmtInt(span.output_tokens ?? 0)} out
              {span.cached_tokens ? ` · ${fmtInt(span.cached_tokens)} cached` : ''}
              {span.reasoning_tokens ? ` · ${fmtInt(span.reasoning_tokens)} reasoning` : ''}
            </dd>
          </>
        )}
        {span.total_cost != null && (
          <>
            <dt>Cost</dt>
            <dd data-testid="span-cost">
              {fmtCost(span.total_cost)} <span className="muted small">({fmtCost(span.input_cost)} in · {fmtCost(span.output_cost)} out · {span.cost_source})</span>
            </dd>
          </>
        )}
        {span.prompt_name && (
          <>
            <dt>Prompt</dt>
            <dd>
              <Link to={`/prompts?name=${encodeURIComponent(span.prompt_name)}`}>
                {span.prompt_name} v{span.prompt_version}
              </Link>
            </dd>
          </>
        )}
        {span.tags && span.tags.length > 0 && (
          <>
            <dt>Tags</dt>
            <dd>
              {span.tags.map((t) => (
                <span key={t} className="tag">
                  {t}
                </span>
              ))}
            </dd>
          </>
        )}
        {span.user_id && (
          <>
            <dt>User</dt>
            <dd>
              <Link to={`/users/${encodeURIComponent(span.user_id)}`} testId="span-user">
                {span.user_id}
              </Link>
            </dd>
          </>
        )}
        {span.session_id && (
          <>
            <dt>Session</dt>
            <dd>
              <Link to={`/sessions/${encodeURIComponent(span.session_id)}`} testId="span-session">
                {span.session_id}
              </Link>
            </dd>
          </>
        )}
        <dt>Span id</dt>
        <dd className="row id-row">
          <span className="mono small" data-testid="span-id">
            {span.span_id}
          </span>
          <CopyButton text={span.span_id} label="Copy span id" testId="copy-span-id" />
          <CopyButton text={shareUrl(span.trace_id ?? traceId, span.span_id)} label="Copy link to this span" testId="copy-span-link">
            Copy link
          </CopyButton>
        </dd>
      </dl>
      {loading && <div className="muted small">Loading span…</div>}
      {span.status === 'error' && (
        <div className="error-box" data-testid="span-error">
          <strong>{typeof errorType === 'string' ? errorType : 'Error'}:</strong> {span.status_message ?? 'failed'}
        </div>
      )}
      {scores.length > 0 && (
        <Section title={`Scores (${scores.length})`}>
          <table className="table" data-testid="scores">
            <tbody>
              {scores.map((sc) => (
                <tr key={sc.id}>
                  <td>{sc.name}</td>
                  <td className="num">{sc.string_value ?? sc.value}</td>
                  <td className="muted small">{sc.source}</td>
                  <td className="small">{sc.comment}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      )}
      {params !== undefined && params !== null && (
        <Section title="Model parameters">
          <JsonView value={params} />
        </Section>
      )}
      {!loading && span.text_sampled_out && (
        <div className="muted small" data-testid="span-text-sampled">
          Text not kept (sampled): this project keeps the prompts and completions of only some traces. Tokens, cost
          and timings are kept.
        </div>
      )}
      {!loading && !span.text_sampled_out && (
        <>
          <Section title="Input">
            <ValueView value={span.input} side="input" />
          </Section>
          <Section title="Output">
            <ValueView value={span.output} side="output" />
          </Section>
        </>
      )}
      {docs.length > 0 && (
        <Section title={`Retrieved documents (${docs.length})`}>
          <Documents docs={docs} />
        </Section>
      )}
      {calls.length > 0 && (
        <Section title={`Tool calls (${calls.length})`}>
          {calls.map((c, i) => (
            <ToolCallCard key={c.id ?? i} call={c} result={c.result ?? (c.id ? results.get(c.id) : undefined)} />
          ))}
        </Section>
      )}
      {!loading && (
        <Section title="Attributes" open={false}>
          <JsonView value={attrs} />
          {mapped.length > 0 && (
            <table className="table mapped" data-testid="mapped-attributes">
              <caption className="muted small">Mapped to columns (not repeated above)</caption>
              <tbody>
                {mapped.map((m) => (
                  <tr key={m.column}>
                    <td className="mono small" title={`from the first of: ${m.keys.join(', ')}`}>
                      {m.keys[0]}
                    </td>
                    <td className="mono small">{m.value}</td>
                    <td>
                      <span className="badge" title={`stored in the ${m.column} column, shown above`}>
                        mapped → {m.column}
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      )}
      {!loading && <Section title="Context" open={false}>
        <JsonView
          value={{
            trace_id: span.trace_id, parent_span_id: span.parent_span_id, event_id: span.event_id, user_id: span.user_id,
            session_id: span.session_id, environment: span.environment, release: span.release, source: span.source,
          }}
        />
      </Section>}
    </div>
  )
}

/** The tool calls the span's input and output messages already show (their cards are in the conversation). */
function toolCallsInMessages(span: Span): ToolCall[] {
  const out: ToolCall[] = []
  for (const [value, side] of [[span.input, 'input'], [span.output, 'output']] as const) {
    const r = renderValue(value, side)
    if (r.kind === 'messages') for (const m of r.messages) out.push(...(m.tool_calls ?? []))
  }
  return out
}

function sameCall(a: ToolCall, b: ToolCall): boolean {
  if (a.id || b.id) return a.id === b.id
  return a.name === b.name && JSON.stringify(a.arguments) === JSON.stringify(b.arguments)
}

function Section({ title, children, open = true }: { title: string; children: ReactNode; open?: boolean }) {
  return (
    <details className="section" open={open}>
      <summary>{title}</summary>
      <div className="section-body">{children}</div>
    </details>
  )
}

/** Retrieved documents as cards: rank, id, score, content, metadata. */
function Documents({ docs }: { docs: RetrievedDocument[] }) {
  return (
    <ol className="documents" data-testid="retrieved-documents">
      {docs.map((d, i) => (
        <li key={i} className="document" data-testid="retrieved-document">
          <div className="document-head">
            <span className="muted small">#{i + 1}</span>
            {d.id !== null && (
              <span className="mono small ellipsis" data-testid="document-id" title={d.id}>
                {d.id}
              </span>
            )}
            {d.score !== null && (
              <span className="badge document-score" data-testid="document-score" title={`score ${d.score}`}>
                score {Number(d.score.toPrecision(4))}
              </span>
            )}
          </div>
          {d.content !== null && (
            <pre className="document-content" data-testid="document-content">
              {d.content}
            </pre>
          )}
          {d.metadata !== null && d.metadata !== undefined && (
            <div className="document-meta">
              <JsonView value={d.metadata} name="metadata" />
            </div>
          )}
        </li>
      ))}
    </ol>
  )
}

/** The time axis of the waterfall: offsets from the trace's start over the shown window; a drag selects a window. */
function TimeAxis({ zoom, widthUs, onZoom }: { zoom: TimeWindow; widthUs: number; onZoom: (w: TimeWindow) => void }) {
  const [drag, setDrag] = useState<[number, number] | null>(null)
  const frac = (e: ReactPointerEvent<HTMLSpanElement>) => {
    const r = e.currentTarget.getBoundingClientRect()
    return Math.max(0, Math.min(1, (e.clientX - r.left) / Math.max(1, r.width)))
  }
  return (
    <span
      className={`ticks zoomable ${drag ? 'dragging' : ''}`}
      data-testid="time-axis"
      title="Drag to zoom into a time window"
      onPointerDown={(e) => {
        e.currentTarget.setPointerCapture(e.pointerId)
        const x = frac(e)
        setDrag([x, x])
      }}
      onPointerMove={(e) => drag && setDrag([drag[0], frac(e)])}
      onPointerUp={(e) => {
        if (!drag) return
        const next = windowOfDrag(zoom, drag[0], frac(e))
        setDrag(null)
        if (next) onZoom(next)
      }}
      onPointerCancel={() => setDrag(null)}
    >
      {[0, 0.25, 0.5, 0.75, 1].map((f) => (
        <span key={f} style={{ left: `${f * 100}%` }} data-testid="tick">
          {fmtDuration((widthUs * (zoom.lo + f * (zoom.hi - zoom.lo))) / 1000)}
        </span>
      ))}
      {drag && <span className="drag-window" style={{ left: `${Math.min(...drag) * 100}%`, width: `${Math.abs(drag[1] - drag[0]) * 100}%` }} />}
    </span>
  )
}

/** The trace's input and output: the trace-level values when it has them (its root span's, or Langfuse's), else
 * the first LLM call's input and the last LLM call's output. */
function TraceIO({ pid, traceId, trace, spans }: { pid: string; traceId: string; trace: TraceFields; spans: OutlineSpan[] }) {
  const llm = spans.map((s, i) => [s, i] as const).filter(([s]) => isLlmCall(s.kind))
  const first = llm.length ? llm[0][0] : null
  const last = llm.length ? llm.reduce((a, b) => ((b[0].end_time ?? '') >= (a[0].end_time ?? '') ? b : a))[0] : null
  const needIn = isEmpty(trace.input) && first
  const needOut = isEmpty(trace.output) && last
  const spanOf = (s: OutlineSpan | null, signal: AbortSignal) =>
    s ? api<Span>(projectPath(pid, `/traces/${encodeURIComponent(traceId)}/spans/${encodeURIComponent(s.span_id)}`), { signal }) : Promise.resolve(null)
  const res = useLoad(`io|${pid}|${traceId}|${needIn ? first!.span_id : ''}|${needOut ? last!.span_id : ''}`, async (signal) => {
    const [a, b] = await Promise.all([needIn ? spanOf(first, signal) : null, needOut ? spanOf(last, signal) : null])
    return { input: needIn ? a?.input : trace.input, output: needOut ? b?.output : trace.output }
  })
  const input = needIn ? res.data?.input : trace.input
  const output = needOut ? res.data?.output : trace.output
  const pending = (needIn || needOut) && res.loading && !res.data
  if (!pending && isEmpty(input) && isEmpty(output)) return null // nothing to show: no panel
  const from = (need: unknown, s: OutlineSpan | null, side: string) =>
    need && s ? <span className="muted small"> ({side} LLM call: {s.name ?? s.span_id})</span> : null
  return (
    <details className="trace-io" open data-testid="trace-io">
      <summary>Trace input and output</summary>
      <div className="trace-io-body">
        <div data-testid="trace-input">
          <h3>Input{from(needIn, first, 'first')}</h3>
          {needIn && res.loading && !res.data ? <div className="muted small">Loading…</div> : <ValueView value={input} side="input" />}
        </div>
        <div data-testid="trace-output">
          <h3>Output{from(needOut, last, 'last')}</h3>
          {needOut && res.loading && !res.data ? <div className="muted small">Loading…</div> : <ValueView value={output} side="output" />}
        </div>
      </div>
    </details>
  )
}

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || v === ''
}
