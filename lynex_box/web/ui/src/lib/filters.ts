// The traces explorer's filters: read from and written to the URL's query string. Pure.

export const TEXT_FILTERS = ['q', 'name', 'model', 'provider', 'user_id', 'session_id', 'environment', 'tag'] as const
export const NUMBER_FILTERS = ['min_cost', 'max_cost', 'min_duration_ms', 'max_duration_ms'] as const
export const ALL_FILTERS = [...TEXT_FILTERS, ...NUMBER_FILTERS, 'status', 'kind'] as const
export type FilterKey = (typeof ALL_FILTERS)[number]
export type Filters = Partial<Record<FilterKey, string>>

export function readFilters(params: URLSearchParams): Filters {
  const out: Filters = {}
  for (const k of ALL_FILTERS) {
    const v = params.get(k)?.trim()
    if (!v) continue
    if ((NUMBER_FILTERS as readonly string[]).includes(k) && !Number.isFinite(Number(v))) continue
    if (k === 'status' && !['ok', 'error', 'unset'].includes(v)) continue
    out[k] = v
  }
  return out
}

/** A stable key for a set of filters (to know when to reload). */
export function filtersKey(f: Filters): string {
  return ALL_FILTERS.filter((k) => f[k]).map((k) => `${k}=${f[k]}`).join('&')
}

export function activeCount(f: Filters): number {
  return ALL_FILTERS.filter((k) => f[k]).length
}

export const FILTER_LABELS: Record<FilterKey, string> = {
  q: 'text', name: 'name', model: 'model', provider: 'provider', user_id: 'user', session_id: 'session',
  environment: 'env', tag: 'tag', min_cost: 'cost ≥', max_cost: 'cost ≤', min_duration_ms: 'latency ≥ ms',
  max_duration_ms: 'latency ≤ ms', status: 'status', kind: 'kind',
}
