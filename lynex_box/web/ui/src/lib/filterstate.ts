// The whole filter state of a list (time range, field filters, multi-select facets, attribute, metadata and score
// conditions, search) read from and written to the URL's query string, so a URL reproduces the view exactly and
// can be shared or saved. Parameters it does not know (sort, order, project...) pass through untouched. Pure.
import type { Query } from './api'
import { readRange, rangeParams } from './timerange'
import type { TimeRange } from './timerange'

/** One-valued filters: free text and bounds. */
export const SINGLE_KEYS = [
  'q', 'name', 'user_id', 'session_id', 'prompt_name', 'prompt_version',
  'min_cost', 'max_cost', 'min_duration_ms', 'max_duration_ms', 'min_hallucination_risk',
] as const // prettier-ignore
/** Filters that take several values (the parameter repeated): a row matches any of them. */
export const MULTI_KEYS = ['status', 'model', 'environment', 'provider', 'tag', 'kind'] as const
export const NUMERIC_KEYS: readonly string[] = ['min_cost', 'max_cost', 'min_duration_ms', 'max_duration_ms', 'min_hallucination_risk']
export const ATTR_OPS = ['eq', 'ne', 'contains', 'exists'] as const
export const SCORE_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const

export type SingleKey = (typeof SINGLE_KEYS)[number]
export type MultiKey = (typeof MULTI_KEYS)[number]
export type AttrOp = (typeof ATTR_OPS)[number]
export type ScoreOp = (typeof SCORE_OPS)[number]

/** A condition on an attribute (`attr`) or a metadata key (`meta`). */
export interface Cond {
  key: string
  op: AttrOp
  value?: string
}

export interface ScoreCond {
  name: string
  op: ScoreOp
  value: string
}

export interface FilterState {
  range: TimeRange | null // null: the shared default range
  single: Partial<Record<SingleKey, string>>
  multi: Partial<Record<MultiKey, string[]>>
  attrs: Cond[]
  meta: Cond[]
  scores: ScoreCond[]
  /** every other parameter, in order, untouched */
  rest: [string, string][]
}

export const OP_LABELS: Record<AttrOp | ScoreOp, string> = {
  eq: '=', ne: '≠', contains: 'contains', exists: 'exists', gt: '>', gte: '≥', lt: '<', lte: '≤',
} // prettier-ignore

const OWN = new Set<string>(['range', 'from', 'to', 'attr', 'meta', 'score', ...SINGLE_KEYS, ...MULTI_KEYS])
const KEY_RE = /^[^"\\:\x00-\x1f\x7f]{1,200}$/

export function emptyState(): FilterState {
  return { range: null, single: {}, multi: {}, attrs: [], meta: [], scores: [], rest: [] }
}

/** `key:op[:value]` as the API reads it; null for one it would refuse. */
export function parseCond(raw: string): Cond | null {
  const i = raw.indexOf(':')
  if (i <= 0) return null
  const key = raw.slice(0, i)
  const rest = raw.slice(i + 1)
  const j = rest.indexOf(':')
  const op = (j < 0 ? rest : rest.slice(0, j)) as AttrOp
  const value = j < 0 ? undefined : rest.slice(j + 1)
  if (!KEY_RE.test(key) || !ATTR_OPS.includes(op)) return null
  if (op === 'exists') return { key, op }
  return value ? { key, op, value } : null
}

export function condParam(c: Cond): string {
  return c.op === 'exists' ? `${c.key}:exists` : `${c.key}:${c.op}:${c.value ?? ''}`
}

export function parseScore(raw: string): ScoreCond | null {
  const parts = raw.split(':')
  if (parts.length < 3) return null
  const [name, op] = parts
  const value = parts.slice(2).join(':')
  if (!KEY_RE.test(name) || !SCORE_OPS.includes(op as ScoreOp) || !value) return null
  if (op !== 'eq' && op !== 'ne' && !Number.isFinite(Number(value))) return null
  return { name, op: op as ScoreOp, value }
}

export function scoreParam(s: ScoreCond): string {
  return `${s.name}:${s.op}:${s.value}`
}

/** Whether a key can be used in a condition (the API's rule: no quote, backslash or colon). */
export function validKey(key: string): boolean {
  return KEY_RE.test(key)
}

export function readState(params: URLSearchParams): FilterState {
  const s = emptyState()
  s.range = readRange(params)
  for (const k of SINGLE_KEYS) {
    const v = params.get(k)?.trim()
    if (!v) continue
    if (NUMERIC_KEYS.includes(k) && !Number.isFinite(Number(v))) continue
    s.single[k] = v
  }
  for (const k of MULTI_KEYS) {
    const values = [...new Set(params.getAll(k).map((v) => v.trim()).filter(Boolean))]
    const ok = k === 'status' ? values.filter((v) => ['ok', 'error', 'unset'].includes(v)) : values
    if (ok.length) s.multi[k] = ok
  }
  s.attrs = params.getAll('attr').map(parseCond).filter((c): c is Cond => c !== null)
  s.meta = params.getAll('meta').map(parseCond).filter((c): c is Cond => c !== null)
  s.scores = params.getAll('score').map(parseScore).filter((c): c is ScoreCond => c !== null)
  for (const [k, v] of params) if (!OWN.has(k)) s.rest.push([k, v])
  return s
}

/** The filter parameters (not the range, not the others) as pairs, in a fixed order. */
function filterPairs(s: FilterState): [string, string][] {
  const out: [string, string][] = []
  for (const k of SINGLE_KEYS) if (s.single[k]) out.push([k, s.single[k]!])
  for (const k of MULTI_KEYS) for (const v of s.multi[k] ?? []) out.push([k, v])
  for (const c of s.attrs) out.push(['attr', condParam(c)])
  for (const c of s.meta) out.push(['meta', condParam(c)])
  for (const c of s.scores) out.push(['score', scoreParam(c)])
  return out
}

/** The URL query string of a state: readState(writeState(s)) gives s back. */
export function writeState(s: FilterState): URLSearchParams {
  const p = new URLSearchParams()
  for (const [k, v] of s.rest) p.append(k, v)
  if (s.range) for (const [k, v] of Object.entries(rangeParams(s.range))) if (v !== null) p.append(k, v)
  for (const [k, v] of filterPairs(s)) p.append(k, v)
  return p
}

/** The API's query for the filters (the range's bounds are added by the caller); `without` leaves one facet out. */
export function apiFilters(s: FilterState, without?: MultiKey): Query {
  const q: Query = {}
  for (const k of SINGLE_KEYS) if (s.single[k]) q[k] = s.single[k]
  for (const k of MULTI_KEYS) if (k !== without && s.multi[k]?.length) q[k] = s.multi[k]
  if (s.attrs.length) q.attr = s.attrs.map(condParam)
  if (s.meta.length) q.meta = s.meta.map(condParam)
  if (s.scores.length) q.score = s.scores.map(scoreParam)
  return q
}

/** A stable key of the filters alone (to know when to reload). */
export function stateKey(s: FilterState): string {
  return new URLSearchParams(filterPairs(s)).toString()
}

export function activeCount(s: FilterState): number {
  return filterPairs(s).length
}

/** A facet value turned on or off (several on: any of them). */
export function toggleValue(s: FilterState, key: MultiKey, value: string): FilterState {
  const now = s.multi[key] ?? []
  const next = now.includes(value) ? now.filter((v) => v !== value) : [...now, value]
  return { ...s, multi: { ...s.multi, [key]: next } }
}

/** The state without its filters (range and other parameters kept). */
export function clearFilters(s: FilterState): FilterState {
  return { ...emptyState(), range: s.range, rest: s.rest }
}

/** The lists that read this state alike (the traces list and the span table): moving between them keeps it. */
export const SHARED_LISTS: readonly string[] = ['/traces', '/spans']

/** The URL parameters a move from page `from` to page `to` keeps: the range and filters between the shared lists
 * (not their sort or other parameters), none otherwise. */
export function carriedParams(from: string, to: string, params: URLSearchParams): URLSearchParams {
  if (from === to || !SHARED_LISTS.includes(from) || !SHARED_LISTS.includes(to)) return new URLSearchParams()
  return writeState({ ...readState(params), rest: [] })
}
