// First run: how to send a first trace to this project (curl, Python, OpenTelemetry), with the
// project's own endpoint, a button that creates an ingest key, and a live "waiting for data" check.
import { useState } from 'react'
import { adminPath, api, projectPath } from '../lib/api'
import { useInterval, useLoad } from '../lib/hooks'
import { useSession } from '../session'
import { CopyCode, Link, Tabs } from '../components/ui'

export function snippets(origin: string, pid: string, key: string) {
  const events = `${origin}/v1/projects/${pid}/events`
  return {
    curl: `curl -s -X POST "${events}" \\
  -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\
  -d '{"events": [{"trace_id": "first-trace", "name": "chat gpt-4o", "type": "llm",
        "model": "gpt-4o", "provider": "openai",
        "usage": {"input_tokens": 1000, "output_tokens": 200},
        "input": [{"role": "user", "content": "Hello"}], "output": "Hi there!"}]}'`,
    python: `import httpx  # pip install httpx

LYNEX = "${events}"
KEY = "${key}"

event = {
    "trace_id": "first-trace", "name": "chat gpt-4o", "type": "llm",
    "model": "gpt-4o", "provider": "openai",
    "usage": {"input_tokens": 1000, "output_tokens": 200},
    "input": [{"role": "user", "content": "Hello"}],
    "output": "Hi there!",
    "user_id": "user-1", "session_id": "session-1",
}
r = httpx.post(LYNEX, json={"events": [event]}, headers={"Authorization": f"Bearer {KEY}"})
print(r.status_code, r.json())  # 202 {'accepted': 1, 'rejected': []}`,
    otel: `# Any OpenTelemetry instrumentation (OpenLLMetry, OpenInference, GenAI semconv) over OTLP/HTTP:
export OTEL_EXPORTER_OTLP_ENDPOINT="${origin}"
export OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"
export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20${key}"
export OTEL_SERVICE_NAME="my-llm-app"`,
  }
}

export function GetStarted() {
  const { project, canAdmin } = useSession()
  const pid = project.project_id
  const [lang, setLang] = useState<'curl' | 'python' | 'otel'>('curl')
  const [key, setKey] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const since = useState(() => Date.now() - 90 * 86_400_000)[0]
  const seen = useLoad(`start|${pid}`, (signal) =>
    api<{ items: { trace_id: string }[] }>(projectPath(pid, '/traces'), { query: { from: since, limit: 1 }, signal }),
  )
  const hasData = (seen.data?.items.length ?? 0) > 0
  useInterval(seen.reload, hasData ? 0 : 3000)

  async function createKey() {
    setError(null)
    try {
      const res = await api<{ api_key: string }>(adminPath(pid, '/keys'), { method: 'POST', body: { name: 'first trace', scope: 'ingest' } })
      setKey(res.api_key)
    } catch (err) {
      setError((err as Error).message)
    }
  }

  const s = snippets(window.location.origin, pid, key ?? '$LYNEX_KEY')
  return (
    <div className="page narrow-page">
      <h1>Send a first trace</h1>
      <p>
        This project is <code>{pid}</code>. Events go to <code>{window.location.origin}/v1/projects/{pid}/events</code>; OpenTelemetry spans to{' '}
        <code>{window.location.origin}/v1/traces</code>. Both need an API key with the <em>ingest</em> (or <em>admin</em>) scope.
      </p>
      <section className="card">
        <h2>1. An API key</h2>
        {key ? (
          <>
            <p>
              <strong>Copy this key now: it is shown only once.</strong> The snippets below use it.
            </p>
            <CopyCode code={key} label="API key" />
          </>
        ) : canAdmin ? (
          <p>
            <button type="button" className="btn primary" onClick={() => void createKey()} data-testid="start-create-key">
              Create an ingest key
            </button>{' '}
            <span className="muted small">or use the key printed on the first start of the appliance.</span>
          </p>
        ) : (
          <p className="muted">Ask an admin of this project for an ingest key.</p>
        )}
        {error && <div className="error-box">{error}</div>}
      </section>
      <section className="card">
        <h2>2. Send an event</h2>
        <Tabs
          label="Language"
          tabs={[
            ['curl', 'curl'],
            ['python', 'Python'],
            ['otel', 'OpenTelemetry'],
          ]}
          value={lang}
          onChange={setLang}
        />
        <CopyCode code={s[lang]} label={lang} />
      </section>
      <section className="card" data-testid="first-trace-status">
        <h2>3. See it</h2>
        {hasData ? (
          <p>
            ✓ Data is arriving. <Link to="/traces">Open the traces</Link> or the <Link to="/">overview</Link>.
          </p>
        ) : (
          <p className="muted">
            <span className="spinner" aria-hidden /> Waiting for the first trace in this project…
          </p>
        )}
      </section>
    </div>
  )
}
