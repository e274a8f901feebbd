// A "Columns" menu of checkboxes over a table's columns; closes on Esc and on a click outside it, as menus do.
import { useEffect, useRef } from 'react'

export function ColumnsMenu({ columns, value, defaults, onChange }: { columns: { key: string; label: string }[]; value: string[]; defaults: string[]; onChange: (v: string[]) => void }) {
  const menu = useRef<HTMLDetailsElement>(null)
  useEffect(() => {
    const close = () => {
      if (menu.current?.open) menu.current.open = false
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && menu.current?.open) {
        close()
        menu.current.querySelector('summary')?.focus()
      }
    }
    const onDown = (e: MouseEvent) => {
      if (menu.current && !menu.current.contains(e.target as Node)) close()
    }
    document.addEventListener('keydown', onKey)
    document.addEventListener('mousedown', onDown)
    return () => {
      document.removeEventListener('keydown', onKey)
      document.removeEventListener('mousedown', onDown)
    }
  }, [])
  return (
    <details className="menu" ref={menu} data-testid="columns-menu">
      <summary className="btn">Columns</summary>
      <div className="menu-body" role="group" aria-label="Columns">
        {columns.map((c) => (
          <label key={c.key} className="check">
            <input
              type="checkbox"
              checked={value.includes(c.key)}
              onChange={(e) => onChange(e.target.checked ? columns.map((x) => x.key).filter((k) => k === c.key || value.includes(k)) : value.filter((k) => k !== c.key))}
            />
            {c.label}
          </label>
        ))}
        <button type="button" className="btn small" onClick={() => onChange(defaults)}>
          Reset
        </button>
      </div>
    </details>
  )
}
