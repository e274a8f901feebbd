// The filter bar of the lists (traces now, spans next): quick fields, a builder for any attribute or metadata key,
// score, prompt and detector condition, the active filters as removable chips, and multi-select facets. It edits a
// `FilterState` (lib/filterstate.ts) and hands the new one to `onChange`; the caller puts it in the URL.
import { useEffect, useState } from 'react'
import type { FormEvent, RefObject } from 'react'
import { api, projectPath } from '../lib/api'
import type { Query } from '../lib/api'
import { ATTR_OPS, clearFilters, OP_LABELS, SCORE_OPS, toggleValue, validKey } from '../lib/filterstate'
import type { AttrOp, FilterState, MultiKey, ScoreOp, SingleKey } from '../lib/filterstate'
import { fmtCompact } from '../lib/format'
import { useLoad } from '../lib/hooks'
import { kindLabel, LLM_CALL, SPAN_KINDS } from '../lib/kinds'

interface BarProps {
  state: FilterState
  onChange: (s: FilterState) => void
  pid: string
  /** the range's bounds, for the key suggestions */
  bounds: { from: number; to: number }
  searchRef?: RefObject<HTMLInputElement | null>
  /** a Kind select (the span table's): every stored kind and the LLM-call group */
  kinds?: boolean
}

const SINGLE_LABELS: Record<SingleKey, string> = {
  q: 'text', name: 'name', user_id: 'user', session_id: 'session', prompt_name: 'prompt', prompt_version: 'prompt version',
  min_cost: 'cost ≥', max_cost: 'cost ≤', min_duration_ms: 'latency ≥ ms', max_duration_ms: 'latency ≤ ms',
  min_hallucination_risk: 'hallucination risk ≥',
} // prettier-ignore
const MULTI_LABELS: Record<MultiKey, string> = {
  status: 'status', model: 'model', environment: 'env', provider: 'provider', tag: 'tag', kind: 'kind',
} // prettier-ignore

/** The quick fields, the condition builder and the chips. */
export function FilterBar({ state, onChange, pid, bounds, searchRef, kinds }: BarProps) {
  function apply(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const single = { ...state.single }
    for (const k of ['q', 'name', 'user_id', 'session_id', 'min_cost', 'max_cost', 'min_duration_ms', 'max_duration_ms'] as SingleKey[]) {
      if (!form.has(k)) continue
      const v = String(form.get(k) ?? '').trim()
      if (v) single[k] = v
      else delete single[k]
    }
    const multi = { ...state.multi }
    for (const k of ['model', 'tag'] as MultiKey[]) {
      const v = String(form.get(k) ?? '').trim()
      // the field shows one value; with several picked (facets) an empty field leaves them as they are
      if (v) multi[k] = [v]
      else if ((state.multi[k]?.length ?? 0) <= 1) delete multi[k]
    }
    onChange({ ...state, single, multi })
  }
  const one = (k: MultiKey) => (state.multi[k]?.length === 1 ? state.multi[k]![0] : '')
  const many = (k: MultiKey) => ((state.multi[k]?.length ?? 0) > 1 ? `${state.multi[k]!.length} picked` : k)
  const formKey = JSON.stringify([state.single, state.multi])
  return (
    <>
      <form className={kinds ? 'filters with-kind' : 'filters'} onSubmit={apply} key={formKey} aria-label="Filters" data-testid="filters">
        <input ref={searchRef} name="q" defaultValue={state.single.q ?? ''} placeholder="Search input and output…  ( / )" className="grow" aria-label="Full-text search" />
        <input name="name" defaultValue={state.single.name ?? ''} placeholder="name" aria-label="Name" />
        {kinds && (
          <select
            aria-label="Kind"
            value={state.multi.kind?.length === 1 ? state.multi.kind[0] : ''}
            onChange={(e) => onChange({ ...state, multi: { ...state.multi, kind: e.target.value ? [e.target.value] : [] } })}
          >
            <option value="">{(state.multi.kind?.length ?? 0) > 1 ? 'several kinds' : 'any kind'}</option>
            {[LLM_CALL, ...SPAN_KINDS].map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        )}
        <input name="model" defaultValue={one('model')} placeholder={many('model')} aria-label="Model" />
        <select
          aria-label="Status"
          value={state.multi.status?.length === 1 ? state.multi.status[0] : ''}
          onChange={(e) => onChange({ ...state, multi: { ...state.multi, status: e.target.value ? [e.target.value] : [] } })}
        >
          <option value="">{(state.multi.status?.length ?? 0) > 1 ? 'several statuses' : 'any status'}</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
        </select>
        <input name="user_id" defaultValue={state.single.user_id ?? ''} placeholder="user" aria-label="User" />
        <input name="session_id" defaultValue={state.single.session_id ?? ''} placeholder="session" aria-label="Session" />
        <input name="tag" defaultValue={one('tag')} placeholder={many('tag')} aria-label="Tag" />
        <span className="pair" data-testid="cost-filter">
          <input name="min_cost" defaultValue={state.single.min_cost ?? ''} placeholder="cost ≥ $" aria-label="Minimum cost" className="narrow" inputMode="decimal" />
          <input name="max_cost" defaultValue={state.single.max_cost ?? ''} placeholder="cost ≤ $" aria-label="Maximum cost" className="narrow" inputMode="decimal" />
        </span>
        <span className="pair" data-testid="duration-filter">
          <input name="min_duration_ms" defaultValue={state.single.min_duration_ms ?? ''} placeholder="≥ ms" aria-label="Minimum latency (ms)" className="narrow" inputMode="numeric" />
          <input name="max_duration_ms" defaultValue={state.single.max_duration_ms ?? ''} placeholder="≤ ms" aria-label="Maximum latency (ms)" className="narrow" inputMode="numeric" />
        </span>
        <button type="submit" className="btn primary">
          Apply
        </button>
      </form>
      <ConditionBuilder state={state} onChange={onChange} pid={pid} bounds={bounds} />
      <ActiveFilters state={state} onChange={onChange} />
    </>
  )
}

type Field = 'attr' | 'meta' | 'score' | 'prompt' | 'risk'
const FIELDS: [Field, string][] = [
  ['attr', 'Attribute'],
  ['meta', 'Metadata'],
  ['score', 'Score'],
  ['prompt', 'Prompt'],
  ['risk', 'Hallucination risk'],
]

interface Keys {
  attributes: { key: string; count: number }[]
  metadata: { key: string; count: number }[]
}

/** "Add filter": a field, a key (suggested from the data), an operator and a value. */
function ConditionBuilder({ state, onChange, pid, bounds }: Omit<BarProps, 'searchRef'>) {
  const [open, setOpen] = useState(false)
  const [field, setField] = useState<Field>('attr')
  const [key, setKey] = useState('')
  const [op, setOp] = useState<string>('eq')
  const [value, setValue] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const keys = useLoad(open ? `${pid}|${bounds.from}|${bounds.to}` : null, (signal) =>
    api<Keys>(projectPath(pid, '/attribute-keys'), { query: { from: bounds.from, to: bounds.to }, signal }),
  )
  useEffect(() => {
    setOp(field === 'score' ? 'gte' : 'eq')
    setProblem(null)
  }, [field])
  const suggestions = field === 'attr' ? keys.data?.attributes : field === 'meta' ? keys.data?.metadata : undefined

  function add(e: FormEvent) {
    e.preventDefault()
    const k = key.trim()
    const v = value.trim()
    if (field === 'risk') {
      const n = Number(v)
      if (!v || !Number.isFinite(n) || n < 0 || n > 1) return setProblem('Enter a risk between 0 and 1.')
      onChange({ ...state, single: { ...state.single, min_hallucination_risk: v } })
    } else if (field === 'prompt') {
      if (!k) return setProblem('Enter a prompt name.')
      const single = { ...state.single, prompt_name: k }
      if (v) single.prompt_version = v
      else delete single.prompt_version
      onChange({ ...state, single })
    } else {
      if (!validKey(k)) return setProblem('Enter a key (no quotes, backslashes or colons).')
      if (op !== 'exists' && !v) return setProblem('Enter a value.')
      if (field === 'score') {
        if (!['eq', 'ne'].includes(op) && !Number.isFinite(Number(v))) return setProblem('Compare a score with a number.')
        onChange({ ...state, scores: [...state.scores, { name: k, op: op as ScoreOp, value: v }] })
      } else {
        const c = op === 'exists' ? { key: k, op: op as AttrOp } : { key: k, op: op as AttrOp, value: v }
        onChange(field === 'attr' ? { ...state, attrs: [...state.attrs, c] } : { ...state, meta: [...state.meta, c] })
      }
    }
    setKey('')
    setValue('')
    setProblem(null)
    setOpen(false)
  }

  if (!open)
    return (
      <div className="builder">
        <button type="button" className="btn small" onClick={() => setOpen(true)} data-testid="add-filter">
          + Add filter
        </button>
      </div>
    )
  const ops: readonly string[] = field === 'score' ? SCORE_OPS : ATTR_OPS
  const keyLabel = field === 'score' ? 'Score name' : field === 'prompt' ? 'Prompt name' : 'Key'
  return (
    <form className="builder filters" onSubmit={add} aria-label="Add a filter" data-testid="filter-builder">
      <select aria-label="Filter field" value={field} onChange={(e) => setField(e.target.value as Field)}>
        {FIELDS.map(([f, label]) => (
          <option key={f} value={f}>
            {label}
          </option>
        ))}
      </select>
      {field !== 'risk' && (
        <input aria-label={keyLabel} placeholder={keyLabel.toLowerCase()} value={key} onChange={(e) => setKey(e.target.value)} list={suggestions ? 'filter-keys' : undefined} className="key" />
      )}
      {suggestions && (
        <datalist id="filter-keys" data-testid="key-suggestions">
          {suggestions.map((s) => (
            <option key={s.key} value={s.key}>
              {`${fmtCompact(s.count)} spans`}
            </option>
          ))}
        </datalist>
      )}
      {(field === 'attr' || field === 'meta' || field === 'score') && (
        <select aria-label="Operator" value={op} onChange={(e) => setOp(e.target.value)}>
          {ops.map((o) => (
            <option key={o} value={o}>
              {OP_LABELS[o as AttrOp | ScoreOp]}
            </option>
          ))}
        </select>
      )}
      {field === 'risk' && <span className="muted small">at least</span>}
      {op !== 'exists' || field === 'prompt' || field === 'risk' ? (
        <input
          aria-label={field === 'prompt' ? 'Prompt version' : 'Value'}
          placeholder={field === 'prompt' ? 'version (any)' : field === 'risk' ? '0 – 1' : 'value'}
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
      ) : null}
      <button type="submit" className="btn primary small">
        Add
      </button>
      <button type="button" className="btn small" onClick={() => setOpen(false)}>
        Cancel
      </button>
      {problem && (
        <span className="err small" role="alert">
          {problem}
        </span>
      )}
    </form>
  )
}

/** Every active filter as a chip that removes it, and "Clear all". */
export function ActiveFilters({ state, onChange }: { state: FilterState; onChange: (s: FilterState) => void }) {
  const chips: { id: string; label: string; drop: () => FilterState }[] = []
  for (const [k, v] of Object.entries(state.single) as [SingleKey, string][]) {
    const rest = { ...state.single }
    delete rest[k]
    chips.push({ id: k, label: `${SINGLE_LABELS[k]}: ${v}`, drop: () => ({ ...state, single: rest }) })
  }
  for (const [k, values] of Object.entries(state.multi) as [MultiKey, string[]][]) {
    for (const v of values) {
      const shown = k === 'kind' && v === LLM_CALL ? 'LLM calls' : v
      chips.push({ id: `${k}=${v}`, label: `${MULTI_LABELS[k]}: ${shown}`, drop: () => toggleValue(state, k, v) })
    }
  }
  state.attrs.forEach((c, i) =>
    chips.push({ id: `attr${i}`, label: `${c.key} ${OP_LABELS[c.op]}${c.value !== undefined ? ` ${c.value}` : ''}`, drop: () => ({ ...state, attrs: state.attrs.filter((_, j) => j !== i) }) }),
  )
  state.meta.forEach((c, i) =>
    chips.push({ id: `meta${i}`, label: `metadata.${c.key} ${OP_LABELS[c.op]}${c.value !== undefined ? ` ${c.value}` : ''}`, drop: () => ({ ...state, meta: state.meta.filter((_, j) => j !== i) }) }),
  )
  state.scores.forEach((c, i) =>
    chips.push({ id: `score${i}`, label: `score ${c.name} ${OP_LABELS[c.op]} ${c.value}`, drop: () => ({ ...state, scores: state.scores.filter((_, j) => j !== i) }) }),
  )
  if (!chips.length) return null
  return (
    <div className="chips" aria-label="Active filters" data-testid="active-filters">
      {chips.map((c) => (
        <button key={c.id} type="button" className="chip" onClick={() => onChange(c.drop())} aria-label={`Remove filter ${c.label}`}>
          {c.label} ✕
        </button>
      ))}
      <button type="button" className="chip clear" onClick={() => onChange(clearFilters(state))}>
        Clear all
      </button>
    </div>
  )
}

export const FACETS: [MultiKey, string][] = [
  ['status', 'Status'],
  ['model', 'Model'],
  ['environment', 'Environment'],
  ['provider', 'Provider'],
]

interface FacetsResponse {
  group_by: string
  items: { value: string; traces: number; spans: number }[]
}

interface FacetsProps {
  pid: string
  state: FilterState
  onChange: (s: FilterState) => void
  query: (without: MultiKey) => Query
  reloadKey: string
  /** what a value's count counts, as the list beside it does: traces (the default) or spans (the span table) */
  count?: 'traces' | 'spans'
  dims?: [MultiKey, string][]
}

/** Multi-select facets: each value's count under the other filters; several picked values match any of them. */
export function Facets({ pid, state, onChange, query, reloadKey, count = 'traces', dims = FACETS }: FacetsProps) {
  return (
    <aside className="facets" aria-label="Facets">
      {count === 'spans' && (
        <div className="muted small" data-testid="facets-counted">
          Counts are spans
        </div>
      )}
      {dims.map(([dim, label]) => (
        <Facet key={dim} pid={pid} dim={dim} label={label} count={count} query={query(dim)} reloadKey={reloadKey} picked={state.multi[dim] ?? []} onToggle={(v) => onChange(toggleValue(state, dim, v))} />
      ))}
    </aside>
  )
}

function Facet({ pid, dim, label, count, query, reloadKey, picked, onToggle }: { pid: string; dim: MultiKey; label: string; count: 'traces' | 'spans'; query: Query; reloadKey: string; picked: string[]; onToggle: (v: string) => void }) {
  // Counted as the list counts: a value's count is the list's total once it is picked (traces, or spans on the
  // span table: the same answer's `spans`, the spans that match the filters and hold the value).
  const res = useLoad(`${reloadKey}|${dim}`, (signal) =>
    api<FacetsResponse>(projectPath(pid, '/trace-facets'), { query: { ...query, group_by: dim, top: 8 }, signal }),
  )
  const groups = (res.data?.items ?? []).map((g) => ({ group: g.value, count: count === 'spans' ? g.spans : g.traces }))
  const shown = [...groups.map((g) => ({ group: g.group, count: g.count as number | null })), ...picked.filter((p) => !groups.some((g) => g.group === p)).map((p) => ({ group: p, count: null }))]
  return (
    <div className="facet" data-testid={`facet-${dim}`}>
      <h3>{label}</h3>
      {shown.length === 0 && <div className="muted small">{res.loading ? '…' : 'none'}</div>}
      {shown.map((g) => {
        const on = picked.includes(g.group)
        return (
          <label key={g.group} className={`facet-item ${on ? 'active' : ''}`} data-testid="facet-value" data-value={g.group}>
            <input type="checkbox" checked={on} disabled={g.group === '(none)'} onChange={() => onToggle(g.group)} aria-label={`${label} ${g.group}`} />
            <span className="ellipsis grow" title={g.group}>
              {g.group}
            </span>
            <span className="muted small num">{g.count === null ? '' : fmtCompact(g.count)}</span>
          </label>
        )
      })}
    </div>
  )
}
