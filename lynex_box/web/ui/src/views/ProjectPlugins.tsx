// The Plugins tab of the settings: every plugin the server loads, as this project sees it (state, per project or
// for the whole instance, on or off here), a toggle and a JSON editor of the project's configuration for the
// per-project ones (secret values come back masked; sending the mask keeps them), and this project's own counters
// and last error (docs/plugins.md "Per project"). Roles without `settings.manage` see it read-only.
import { useEffect, useState } from 'react'
import { adminPath, api } from '../lib/api'
import { useInterval, useLoad } from '../lib/hooks'
import { useSession } from '../session'
import { AdminError } from '../components/AdminError'
import { EmptyState } from '../components/ui'
import { fmtTime } from '../lib/format'
import { parseConfig } from '../lib/plugins'

export interface ProjectPlugin {
  name: string
  state: 'loaded' | 'failed' | 'missing'
  error: string
  hooks: string[]
  per_project: boolean
  secret_keys: string[]
  enabled: boolean
  config: Record<string, unknown>
  updated_at: number | null
  updated_by: string | null
  delivered: number
  errors: number
  timeouts: number
  dropped: number
  last_error: string
}

export function ProjectPlugins() {
  const { project, canAdmin } = useSession()
  const pid = project.project_id
  const list = useLoad(`plugins|${pid}`, (signal) => api<{ items: ProjectPlugin[] }>(adminPath(pid, '/plugins'), { signal }))
  useInterval(list.reload, 5000) // the counters move while events flow
  const items = list.data?.items ?? []
  return (
    <>
      {list.error && <AdminError error={list.error} onRetry={list.reload} />}
      {list.data && items.length === 0 && (
        <EmptyState title="No plugins" testId="plugins-empty">
          The server loads no plugin: the operator turns plugins on in the <span title="lynex.toml: [plugins] enabled">server's configuration</span>.
        </EmptyState>
      )}
      {items.map((p) => (
        <PluginCard key={p.name} plugin={p} pid={pid} canAdmin={canAdmin} onChanged={list.reload} />
      ))}
    </>
  )
}

function PluginCard({ plugin, pid, canAdmin, onChanged }: { plugin: ProjectPlugin; pid: string; canAdmin: boolean; onChanged: () => void }) {
  const [text, setText] = useState(JSON.stringify(plugin.config, null, 2))
  const [error, setError] = useState<string | null>(null)
  const [saved, setSaved] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [on, setOn] = useState(plugin.enabled) // shown at once; put back when the server refuses
  useEffect(() => setOn(plugin.enabled), [plugin.enabled]) // changed elsewhere (another admin, the CLI)
  const parsed = parseConfig(text)
  const editable = canAdmin && plugin.per_project

  async function put(body: { enabled: boolean; config?: Record<string, unknown> }, message: string) {
    const before = on
    setOn(body.enabled)
    setBusy(true)
    setError(null)
    setSaved(null)
    try {
      const stored = await api<{ config: Record<string, unknown> }>(adminPath(pid, `/plugins/${encodeURIComponent(plugin.name)}`), { method: 'PUT', body })
      if (body.config) setText(JSON.stringify(stored.config, null, 2)) // secret values come back masked
      setSaved(message)
      onChanged()
    } catch (err) {
      setOn(before)
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }

  const failed = plugin.errors + plugin.timeouts
  return (
    <section className="card" data-testid={`plugin-${plugin.name}`} aria-label={`Plugin ${plugin.name}`}>
      <div className="row">
        <h2 style={{ flex: 1, margin: 0 }}>{plugin.name}</h2>
        <span className="badge" data-testid="plugin-state">
          {plugin.state}
        </span>
        <span className="muted small">{plugin.per_project ? 'per project' : 'whole instance'}</span>
      </div>
      {plugin.error && <p className="notice">{plugin.error}</p>}
      <label className="check">
        <input
          type="checkbox"
          data-testid="plugin-toggle"
          aria-label={`Enable ${plugin.name} for this project`}
          checked={on}
          disabled={!editable || busy || plugin.state !== 'loaded'}
          onChange={(e) => void put({ enabled: e.target.checked }, e.target.checked ? 'Enabled.' : 'Disabled.')}
        />
        <span>{on ? 'Receives this project’s events' : 'Off for this project'}</span>
      </label>
      {!plugin.per_project && <p className="muted small">The operator runs this plugin for every project; it has no per-project settings.</p>}
      <dl className="kv" data-testid="plugin-counters">
        <dt>Delivered</dt>
        <dd data-testid="plugin-delivered">{plugin.delivered}</dd>
        <dt>Errors</dt>
        <dd data-testid="plugin-errors" className={failed ? 'field-error' : ''}>
          {plugin.errors}
        </dd>
        <dt>Timeouts</dt>
        <dd>{plugin.timeouts}</dd>
        <dt>Dropped</dt>
        <dd>{plugin.dropped}</dd>
        <dt>Last error</dt>
        <dd className="mono" data-testid="plugin-last-error">
          {plugin.last_error || '—'}
        </dd>
        {plugin.updated_at !== null && (
          <>
            <dt>Changed</dt>
            <dd>
              {fmtTime(plugin.updated_at / 1000)} by {plugin.updated_by}
            </dd>
          </>
        )}
      </dl>
      {plugin.per_project && (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault()
            if (parsed.ok) void put({ enabled: on, config: parsed.config }, 'Configuration saved.')
          }}
        >
          <label>
            <span>Configuration (JSON; secret values show as ******** and are kept when sent back)</span>
            <textarea
              data-testid="plugin-config"
              className="mono"
              rows={6}
              value={text}
              readOnly={!editable}
              aria-invalid={!parsed.ok}
              onChange={(e) => {
                setText(e.target.value)
                setSaved(null)
              }}
            />
          </label>
          {!parsed.ok && (
            <span className="field-error" role="alert" data-testid="plugin-config-error">
              {parsed.error}
            </span>
          )}
          {editable && (
            <button className="btn" type="submit" style={{ alignSelf: "flex-start" }} disabled={busy || !parsed.ok} data-testid="plugin-save">
              Save configuration
            </button>
          )}
        </form>
      )}
      {error && (
        <div className="error-box" role="alert" data-testid="plugin-error">
          {error}
        </div>
      )}
      {saved && (
        <p className="muted small" role="status">
          {saved}
        </p>
      )}
    </section>
  )
}
