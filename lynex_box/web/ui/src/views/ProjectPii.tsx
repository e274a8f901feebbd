// The PII card of the project settings: the mode (off, detect, redact), the project's custom RE2 patterns and the
// attribute keys always masked (docs/pii.md). The server validates the patterns; its message is shown as is.
import { useState } from 'react'
import type { FormEvent } from 'react'
import { adminPath, api } from '../lib/api'
import { parsePatterns, patternsText } from '../lib/pii'
import type { PiiSetting } from '../lib/pii'

type PiiMode = PiiSetting['mode']

const MODES: { mode: PiiMode; label: string; hint: string }[] = [
  { mode: 'off', label: 'Off', hint: 'text is stored as sent' },
  { mode: 'detect', label: 'Detect', hint: "kinds and counts of what was found go to the span's pii column; text is stored as sent" },
  { mode: 'redact', label: 'Redact', hint: 'each value found is replaced by a mask such as [EMAIL] or [CARD] before it is stored' },
]

export function PiiCard({ projectId, pii, canAdmin, onSaved }: { projectId: string; pii: PiiSetting; canAdmin: boolean; onSaved: () => void }) {
  const [mode, setMode] = useState<PiiMode>(pii.mode)
  const [patterns, setPatterns] = useState(patternsText(pii.custom_patterns))
  const [keys, setKeys] = useState(pii.masked_keys.join('\n'))
  const [error, setError] = useState<string | null>(null)
  const [status, setStatus] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const parsed = parsePatterns(patterns)
    if (!parsed.ok) {
      setError(parsed.error)
      return
    }
    const masked = keys
      .split('\n')
      .map((k) => k.trim())
      .filter(Boolean)
    setBusy(true)
    setError(null)
    setStatus(null)
    try {
      await api(adminPath(projectId, '/settings'), {
        method: 'PATCH',
        body: { pii: { mode, custom_patterns: parsed.patterns, masked_keys: masked } },
      })
      setStatus('Applied to spans processed from now on.')
      onSaved()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="card" aria-labelledby="pii-title">
      <h2 id="pii-title">PII detection and redaction</h2>
      <p className="small" data-testid="pii-effective">
        In force: <strong>{pii.mode}</strong>
        {pii.is_default ? (
          <>
            {' '}
            · <span title="set by the operator in lynex.toml: [pii] default_mode">the server default</span>
          </>
        ) : (
          " · this project's setting"
        )}
      </p>
      <form className="form" onSubmit={save} aria-label="PII" data-testid="pii-form" noValidate>
        <fieldset disabled={!canAdmin}>
          <legend>Mode</legend>
          {MODES.map((m) => (
            <label className="check" key={m.mode}>
              <input
                type="radio"
                name="pii_mode"
                value={m.mode}
                checked={mode === m.mode}
                onChange={() => {
                  setMode(m.mode)
                  setStatus(null)
                }}
              />
              {m.label} <span className="muted small">— {m.hint}</span>
            </label>
          ))}
        </fieldset>
        <fieldset disabled={!canAdmin}>
          <legend>Custom patterns</legend>
          <label className="muted small" htmlFor="pii-patterns">
            One per line, <code>name=RE2 pattern</code>; a match is masked as <code>[CUSTOM:name]</code>.
          </label>
          <textarea
            id="pii-patterns"
            rows={3}
            spellCheck={false}
            aria-label="Custom patterns, one per line"
            value={patterns}
            onChange={(e) => setPatterns(e.target.value)}
          />
          <label className="muted small" htmlFor="pii-keys">
            Attribute keys whose value is always masked, one per line.
          </label>
          <textarea
            id="pii-keys"
            rows={3}
            spellCheck={false}
            aria-label="Attribute keys whose value is always masked"
            value={keys}
            onChange={(e) => setKeys(e.target.value)}
          />
        </fieldset>
        <p className="muted small">
          Emails, phone numbers, card numbers (Luhn-checked), IBANs, IP addresses, US SSNs and secrets (API keys, bearer tokens, private keys,
          high-entropy tokens) are detected in names, inputs, outputs, tool calls, attributes, user and session ids and tags. Stored spans are not
          rewritten.
        </p>
        {error && (
          <div className="error-box" role="alert" data-testid="pii-error">
            {error}
          </div>
        )}
        {canAdmin && (
          <div className="row">
            <button className="btn primary" type="submit" disabled={busy}>
              {busy ? 'Applying…' : 'Apply PII settings'}
            </button>
            {status && (
              <span className="muted" role="status" data-testid="pii-saved">
                {status}
              </span>
            )}
          </div>
        )}
      </form>
    </section>
  )
}
