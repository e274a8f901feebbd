// A column header that sorts its list: a button (click to sort, click again to flip) inside a columnheader
// carrying aria-sort, and the list's total ("1,234 traces") shown above it.
import { fmtInt } from '../lib/format'
import { ariaSort } from '../lib/sort'
import type { SortState } from '../lib/sort'

interface Props {
  label: string
  num?: boolean
  /** The API column this header sorts by; none: not sortable. */
  column?: string
  text?: boolean
  sort?: SortState
  onSort?: (column: string, text: boolean) => void
}

export function HeaderCell({ label, num, column, text = false, sort, onSort }: Props) {
  const cls = num ? 'num' : ''
  if (!column || !sort || !onSort) {
    return (
      <div className={cls} role="columnheader">
        {label}
      </div>
    )
  }
  const aria = ariaSort(sort, column)
  return (
    <div className={`${cls} sortable`} role="columnheader" aria-sort={aria}>
      <button type="button" className="sort-btn" onClick={() => onSort(column, text)} title={`Sort by ${label.toLowerCase()}`}>
        {label}
        <span className="sort-mark" aria-hidden="true">
          {aria === 'ascending' ? '▲' : aria === 'descending' ? '▼' : ''}
        </span>
      </button>
    </div>
  )
}

/** "1,234 traces" over a list; nothing while the total is not known yet. */
export function ListTotal({ total, noun, testId }: { total: number | null | undefined; noun: [string, string]; testId: string }) {
  if (total === null || total === undefined) return null
  return (
    <span className="list-total muted" data-testid={testId}>
      {fmtInt(total)} {total === 1 ? noun[0] : noun[1]}
    </span>
  )
}
