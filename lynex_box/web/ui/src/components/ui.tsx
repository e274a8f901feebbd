// Small shared pieces: empty states, errors, tabs, copyable code, JSON.
import { useState } from 'react'
import type { ReactNode } from 'react'
import { navigate } from '../lib/router'

export function EmptyState({ title, children, testId }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="empty" data-testid={testId ?? 'empty-state'}>
      <h3>{title}</h3>
      {children && <div className="empty-body">{children}</div>}
    </div>
  )
}

export function ErrorBox({ error, onRetry }: { error: Error; onRetry?: () => void }) {
  return (
    <div className="error-box" role="alert">
      <strong>Could not load:</strong> {error.message}
      {onRetry && (
        <button type="button" className="btn small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  )
}

export function Tabs<T extends string>({ tabs, value, onChange, label }: { tabs: [T, string][]; value: T; onChange: (t: T) => void; label: string }) {
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map(([key, text]) => (
        <button
          key={key}
          type="button"
          role="tab"
          aria-selected={value === key}
          className={value === key ? 'tab active' : 'tab'}
          onClick={() => onChange(key)}
        >
          {text}
        </button>
      ))}
    </div>
  )
}

export function CopyCode({ code, label }: { code: string; label?: string }) {
  const [copied, setCopied] = useState(false)
  return (
    <div className="code-block">
      <button
        type="button"
        className="btn small copy"
        aria-label={`Copy ${label ?? 'code'}`}
        onClick={() => {
          void navigator.clipboard?.writeText(code).then(() => {
            setCopied(true)
            window.setTimeout(() => setCopied(false), 1500)
          })
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
      <pre>
        <code>{code}</code>
      </pre>
    </div>
  )
}

/** JSON drawn as an indented tree whose nodes open on demand, so a huge value renders lazily. */
export function JsonView({ value, depth = 0, name }: { value: unknown; depth?: number; name?: string }) {
  const [open, setOpen] = useState(depth < 2)
  const label = name !== undefined ? <span className="json-key">{name}: </span> : null
  if (value === null || typeof value !== 'object') {
    const cls = value === null ? 'json-null' : typeof value === 'string' ? 'json-str' : 'json-num'
    const text = typeof value === 'string' ? JSON.stringify(value) : String(value)
    return (
      <div className="json-line">
        {label}
        <span className={cls}>{text.length > 4000 ? `${text.slice(0, 4000)}… (${text.length} chars)` : text}</span>
      </div>
    )
  }
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value as object)
  const brackets = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  if (entries.length === 0) {
    return (
      <div className="json-line">
        {label}
        {brackets.join('')}
      </div>
    )
  }
  return (
    <div className="json-node">
      <button type="button" className="json-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        {open ? '▾' : '▸'} {label}
        {brackets[0]}
        {!open && <span className="muted"> {entries.length} items {brackets[1]}</span>}
      </button>
      {open && (
        <div className="json-children">
          {entries.slice(0, 500).map(([k, v]) => (
            <JsonView key={k} name={Array.isArray(value) ? undefined : k} value={v} depth={depth + 1} />
          ))}
          {entries.length > 500 && <div className="muted">… {entries.length - 500} more</div>}
        </div>
      )}
      {open && <div className="json-line">{brackets[1]}</div>}
    </div>
  )
}

export function Stat({ label, value, sub, testId }: { label: string; value: string; sub?: string; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {sub && <div className="stat-sub">{sub}</div>}
    </div>
  )
}

/** A span's or trace's status. OpenTelemetry's UNSET (no error reported: most instrumented spans) reads as ok,
 * as the traces list counts it, so the list and the trace view agree. */
export function StatusBadge({ status }: { status: string | null | undefined }) {
  const s = status === 'error' ? 'error' : 'ok'
  const title = status === 'unset' || !status ? 'ok: no error reported (OpenTelemetry status unset)' : undefined
  return (
    <span className={`badge status-${s}`} title={title} data-testid="status-badge">
      {s}
    </span>
  )
}

/** An in-app link: a real href (open in new tab works) that navigates without a reload. */
export function Link({ to, children, className, testId, title }: { to: string; children: ReactNode; className?: string; testId?: string; title?: string }) {
  return (
    <a
      href={to.startsWith('/ui') ? to : `/ui${to}`}
      className={className}
      data-testid={testId}
      title={title}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return
        e.preventDefault()
        navigate(to)
      }}
    >
      {children}
    </a>
  )
}
