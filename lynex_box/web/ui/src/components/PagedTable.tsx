// A virtualised table over a cursor-paged list endpoint ({items, next_cursor, total}): the next page loads
// when the end scrolls into view; headers of columns with a `sort` sort the list (the view keeps the order).
import { useCallback, useEffect, useRef, useState } from 'react'
import type { ReactNode } from 'react'
import { api } from '../lib/api'
import type { Query } from '../lib/api'
import { fmtInt } from '../lib/format'
import { gridMinWidth } from '../lib/grid'
import type { SortState } from '../lib/sort'
import { HeaderCell } from './SortHeader'
import { VirtualList } from './VirtualList'
import { EmptyState, ErrorBox } from './ui'

export interface Col<T> {
  key: string
  label: string
  width: string
  num?: boolean
  render: (row: T) => ReactNode
  /** The API column (`sort=`) this column sorts by, and whether it is text (first click: A to Z). */
  sort?: string
  text?: boolean
}

export function usePaged<T>(path: string, query: Query, key: string, pageSize = 100) {
  const [rows, setRows] = useState<T[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<Error | null>(null)
  const [total, setTotal] = useState<number | null>(null)
  const gen = useRef(0)
  const queryRef = useRef(query)
  queryRef.current = query

  const load = useCallback(
    async (after: string | null, reset: boolean) => {
      const mine = reset ? ++gen.current : gen.current
      setLoading(true)
      if (reset) setTotal(null)
      try {
        const page = await api<{ items: T[]; next_cursor: string | null; total?: number | null }>(path, { query: { ...queryRef.current, limit: pageSize, cursor: after } })
        if (mine !== gen.current) return
        if (reset) setTotal(page.total ?? null)
        setRows((prev) => (reset ? page.items : [...prev, ...page.items]))
        setCursor(page.next_cursor)
        setError(null)
      } catch (err) {
        if (mine === gen.current) setError(err as Error)
      } finally {
        if (mine === gen.current) setLoading(false)
      }
    },
    [path, pageSize],
  )
  useEffect(() => {
    void load(null, true)
  }, [load, key])
  const more = useCallback(() => {
    if (!loading && cursor) void load(cursor, false)
  }, [loading, cursor, load])
  return { rows, loading, error, more, done: cursor === null, reload: () => void load(null, true), resetKey: key, total }
}

interface Props<T> {
  cols: Col<T>[]
  paged: ReturnType<typeof usePaged<T>>
  onOpen?: (row: T) => void
  rowHref?: (row: T) => string
  empty: ReactNode
  emptyTitle: string
  testId: string
  noun: string
  sort?: SortState
  onSort?: (column: string, text: boolean) => void
}

export function PagedTable<T>({ cols, paged, onOpen, rowHref, empty, emptyTitle, testId, noun, sort, onSort }: Props<T>) {
  const grid = cols.map((c) => c.width).join(' ')
  const minWidth = gridMinWidth(cols.map((c) => c.width))
  const head = (
    <div className="grid-head" style={{ gridTemplateColumns: grid, minWidth }} role="row" data-testid={`${testId}-head`}>
      {cols.map((c) => (
        <HeaderCell key={c.key} label={c.label} num={c.num} column={c.sort} text={c.text} sort={sort} onSort={onSort} />
      ))}
    </div>
  )
  return (
    <div className="table-wrap">
      {paged.error && <ErrorBox error={paged.error} onRetry={paged.reload} />}
      {paged.rows.length === 0 && !paged.loading && !paged.error ? (
        <>
          {head}
          <EmptyState title={emptyTitle} testId={`${testId}-empty`}>
          {empty}
          </EmptyState>
        </>
      ) : (
        <VirtualList
          count={paged.rows.length}
          rowHeight={34}
          onEndReached={paged.more}
          testId={testId}
          header={head}
          headerHeight={32}
          minWidth={minWidth}
          resetKey={paged.resetKey}
          render={(i) => {
            const r = paged.rows[i]
            const cells = cols.map((c) => (
              <div key={c.key} className={c.num ? 'num' : ''}>
                {c.render(r)}
              </div>
            ))
            return rowHref ? (
              <a
                href={`/ui${rowHref(r)}`}
                className="grid-row"
                style={{ gridTemplateColumns: grid }}
                data-testid={`${testId}-row`}
                onClick={(e) => {
                  if (e.metaKey || e.ctrlKey || e.shiftKey) return
                  e.preventDefault()
                  onOpen?.(r)
                }}
              >
                {cells}
              </a>
            ) : (
              <div className="grid-row" style={{ gridTemplateColumns: grid }} data-testid={`${testId}-row`}>
                {cells}
              </div>
            )
          }}
        />
      )}
      <div className="table-foot muted small">{paged.loading ? 'Loading…' : `${fmtInt(paged.rows.length)} ${noun}${paged.done ? '' : ' — scroll for more'}`}</div>
    </div>
  )
}
