// Fixed-height row virtualisation: only the rows in view (plus a margin) are in the DOM, so a list
// of 30,000 spans scrolls like a list of 30.
import { forwardRef, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState } from 'react'
import type { ReactNode } from 'react'

export interface VirtualListHandle {
  scrollToIndex: (i: number) => void
}

interface Props {
  count: number
  rowHeight: number
  render: (index: number) => ReactNode
  onEndReached?: () => void
  overscan?: number
  className?: string
  label?: string
  testId?: string
  /** A sticky header row inside the scroll box: it scrolls sideways with the rows. */
  header?: ReactNode
  headerHeight?: number
  /** The rows' least width (px): wider than the box, the box scrolls sideways with a scrollbar. */
  minWidth?: number
  /** A new value scrolls back to the top (new filters: the newest matches first). */
  resetKey?: string
}

export const VirtualList = forwardRef<VirtualListHandle, Props>(function VirtualList(
  { count, rowHeight, render, onEndReached, overscan = 8, className, label, testId, header, headerHeight = 0, minWidth, resetKey },
  ref,
) {
  const box = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [height, setHeight] = useState(600)

  useLayoutEffect(() => {
    const el = box.current
    if (!el) return
    setHeight(el.clientHeight || 600)
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 600))
    ro.observe(el)
    return () => ro.disconnect()
  }, [])

  useLayoutEffect(() => {
    const el = box.current
    if (!el) return
    el.scrollTop = 0
    setScrollTop(0)
  }, [resetKey])

  useImperativeHandle(ref, () => ({
    scrollToIndex(i: number) {
      const el = box.current
      if (!el) return
      const top = i * rowHeight
      if (top < el.scrollTop) el.scrollTop = top
      else if (top + rowHeight > el.scrollTop + el.clientHeight - headerHeight) el.scrollTop = top + rowHeight - el.clientHeight + headerHeight
    },
  }))

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan)
  const last = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan)

  const endRef = useRef(onEndReached)
  endRef.current = onEndReached
  useEffect(() => {
    if (count > 0 && last >= count - 2) endRef.current?.()
  }, [last, count])

  const rows: ReactNode[] = []
  for (let i = first; i < last; i++) {
    rows.push(
      <div key={i} className="vrow" style={{ top: i * rowHeight, height: rowHeight }}>
        {render(i)}
      </div>,
    )
  }
  return (
    <div
      ref={box}
      className={`vlist ${className ?? ''}`}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      role="list"
      aria-label={label}
      data-testid={testId}
    >
      <div style={{ minWidth }}>
        {header}
        <div style={{ height: count * rowHeight, position: 'relative' }}>{rows}</div>
      </div>
    </div>
  )
})
