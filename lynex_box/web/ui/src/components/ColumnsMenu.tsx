// A "Columns" menu of checkboxes over a table's columns; closes on Esc and on a click outside it, as menus do.
import { useDismissableMenu } from '../lib/hooks'

export function ColumnsMenu({ columns, value, defaults, onChange }: { columns: { key: string; label: string }[]; value: string[]; defaults: string[]; onChange: (v: string[]) => void }) {
  const menu = useDismissableMenu()
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
