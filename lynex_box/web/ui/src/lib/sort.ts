// A list's sort order, kept in the URL (`?sort=cost&order=desc`) so a sorted list is a shareable link.
// Pure functions: the views read the order with `readSort` and change it with `nextSort` + setParams.

export type Order = 'asc' | 'desc'

export interface SortState {
  column: string // a column the list's API sorts by (`sort=`)
  order: Order
}

/** The order in `params`, or the list's default (newest first) when absent or not one of `columns`. */
export function readSort(params: URLSearchParams, columns: readonly string[], fallback: string): SortState {
  const column = params.get('sort') ?? ''
  const order = params.get('order') === 'asc' ? 'asc' : 'desc'
  if (!columns.includes(column)) return { column: fallback, order: column ? 'desc' : order }
  return { column, order }
}

/** Clicking a header: the same column flips its order; another starts A→Z for text, largest/newest first otherwise. */
export function nextSort(current: SortState, column: string, text: boolean): SortState {
  if (current.column === column) return { column, order: current.order === 'desc' ? 'asc' : 'desc' }
  return { column, order: text ? 'asc' : 'desc' }
}

/** The URL parameters of an order: none for the default (newest first), so plain links stay plain. */
export function sortParams(s: SortState, fallback: string): Record<string, string | null> {
  if (s.column === fallback && s.order === 'desc') return { sort: null, order: null }
  return { sort: s.column, order: s.order }
}

/** The API's query parameters of an order (none for the default). */
export function sortQuery(s: SortState, fallback: string): Record<string, string> {
  return s.column === fallback && s.order === 'desc' ? {} : { sort: s.column, order: s.order }
}

/** `aria-sort` of a column header. */
export function ariaSort(s: SortState, column: string): 'ascending' | 'descending' | 'none' {
  if (s.column !== column) return 'none'
  return s.order === 'asc' ? 'ascending' : 'descending'
}
