// Synthetic monitors in words and back: the form's fields, the JSON body the monitors API takes from them, and a
// run's outcome in a sentence. Pure functions: no DOM, no globals. Header values and API keys go to the server
// and never come back: an edited monitor keeps them unless new ones are typed.
import { fmtSeconds, parseDuration } from './alerts'

export interface Assertion {
  type: string
  [key: string]: unknown
}

export interface AssertionResult {
  type: string
  ok: boolean
  detail: string
}

export interface LastRun {
  started_at: number
  ok: boolean
  latency_ms: number
  error: string | null
  trace_id: string
}

export interface Monitor {
  id: string
  name: string
  enabled: boolean
  interval_s: number
  cron: string | null
  timeout_s: number
  target: {
    type: 'http' | 'model'
    method?: string
    url?: string
    body?: string | null
    base_url?: string
    model?: string
    messages?: { role: string; content: string }[]
    api_key_set?: boolean
    header_names: string[]
  }
  assertions: Assertion[]
  rule_ids: string[]
  span_name: string
  last_run: LastRun | null
}

export interface Run {
  id: string
  started_at: number
  ok: boolean
  latency_ms: number
  status_code: number | null
  assertions: AssertionResult[]
  failed: AssertionResult[]
  error: string | null
  trace_id: string
  manual: boolean
}

export interface MonitorFields {
  name: string
  enabled: boolean
  kind: 'http' | 'model'
  method: string
  url: string
  body: string
  headers: string // "Name: value" lines; empty on edit = keep the stored ones
  baseUrl: string
  model: string
  apiKey: string // empty on edit = keep the stored one
  system: string
  prompt: string
  interval: string
  timeout: string
  status: string
  maxLatency: string
  contains: string
  matches: string
  jsonPath: string
  jsonEquals: string
  alertOnFailure: boolean
  alertLatency: string
  webhook: string
}

const SIMPLE = new Set(['status', 'latency', 'body_contains', 'answer_contains', 'body_matches', 'answer_matches', 'json_path'])

/** The form's fields for a new monitor, or for editing `m` (secrets left empty: kept as stored). */
export function monitorFields(m?: Monitor): MonitorFields {
  const find = (...types: string[]) => m?.assertions.find((a) => types.includes(a.type))
  const text = (a: Assertion | undefined, key: string) => (a && a[key] !== undefined ? String(a[key]) : '')
  const json = m?.assertions.find((a) => a.type === 'json_path' && 'equals' in a)
  const messages = m?.target.messages ?? []
  return {
    name: m?.name ?? '',
    enabled: m?.enabled ?? true,
    kind: m?.target.type ?? 'http',
    method: m?.target.method ?? 'GET',
    url: m?.target.url ?? '',
    body: m?.target.body ?? '',
    headers: '',
    baseUrl: m?.target.base_url ?? '',
    model: m?.target.model ?? '',
    apiKey: '',
    system: messages.find((x) => x.role === 'system')?.content ?? '',
    prompt: messages.find((x) => x.role === 'user')?.content ?? '',
    interval: m ? fmtSeconds(m.interval_s) : '5m',
    timeout: m ? String(m.timeout_s) : '10',
    status: text(find('status'), 'equals'),
    maxLatency: text(find('latency'), 'max_ms'),
    contains: text(find('body_contains', 'answer_contains'), 'value'),
    matches: text(find('body_matches', 'answer_matches'), 'pattern'),
    jsonPath: text(json, 'path'),
    jsonEquals: json && 'equals' in json ? JSON.stringify(json.equals) : '',
    alertOnFailure: m ? m.rule_ids.length > 0 : true,
    alertLatency: '',
    webhook: '',
  }
}

/** Assertions the form does not show (a second json_path, exists checks) are kept as they are. */
function keptAssertions(m: Monitor | undefined): Assertion[] {
  if (!m) return []
  const seen = new Set<string>()
  return m.assertions.filter((a) => {
    const shown = SIMPLE.has(a.type) && !(a.type === 'json_path' && !('equals' in a)) && !seen.has(a.type)
    if (shown) seen.add(a.type)
    return !shown
  })
}

function parseHeaders(text: string): { headers: Record<string, string> } | { error: string } {
  const headers: Record<string, string> = {}
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(':')
    if (at < 1) return { error: `header line "${line}" must be "Name: value"` }
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim()
  }
  return { headers }
}

/** The JSON body for POST (new) or PATCH (`m` given) from the form's fields, or the first error in words. */
export function monitorBody(f: MonitorFields, m?: Monitor): { body: Record<string, unknown> } | { error: string } {
  if (!f.name.trim()) return { error: 'a monitor needs a name' }
  const interval = parseDuration(f.interval)
  if (interval === null || interval < 1) return { error: `"${f.interval}" is not a duration like 60s, 5m or 1h` }
  const timeout = Number(f.timeout)
  if (!f.timeout.trim() || !Number.isFinite(timeout) || timeout <= 0) return { error: 'the timeout must be a number of seconds' }
  const parsed = parseHeaders(f.headers)
  if ('error' in parsed) return parsed
  const target: Record<string, unknown> = { type: f.kind }
  if (f.kind === 'http') {
    Object.assign(target, { method: f.method, url: f.url.trim(), body: f.body ? f.body : null })
  } else {
    const messages = [...(f.system.trim() ? [{ role: 'system', content: f.system }] : []), { role: 'user', content: f.prompt }]
    Object.assign(target, { base_url: f.baseUrl.trim(), model: f.model.trim(), messages })
    if (f.apiKey) target.api_key = f.apiKey
  }
  if (f.headers.trim()) target.headers = parsed.headers
  const assertions: Assertion[] = []
  const prefix = f.kind === 'model' ? 'answer' : 'body'
  if (f.status.trim()) assertions.push({ type: 'status', equals: Number(f.status) })
  if (f.maxLatency.trim()) assertions.push({ type: 'latency', max_ms: Number(f.maxLatency) })
  if (f.contains) assertions.push({ type: `${prefix}_contains`, value: f.contains })
  if (f.matches) assertions.push({ type: `${prefix}_matches`, pattern: f.matches })
  if (f.jsonPath.trim()) {
    let equals: unknown
    try {
      equals = JSON.parse(f.jsonEquals)
    } catch {
      return { error: `the JSON path's expected value must be JSON (e.g. 7, "ok", true), not ${f.jsonEquals || 'empty'}` }
    }
    assertions.push({ type: 'json_path', path: f.jsonPath.trim(), equals })
  }
  const body: Record<string, unknown> = {
    name: f.name.trim(), enabled: f.enabled, interval_s: interval, timeout_s: timeout, target,
    assertions: [...assertions, ...keptAssertions(m)],
  }
  const latency = f.alertLatency.trim() ? Number(f.alertLatency) : null
  const wantsAlert = f.alertOnFailure || latency !== null
  const hadAlert = (m?.rule_ids.length ?? 0) > 0
  if (!m || f.webhook.trim() || latency !== null || wantsAlert !== hadAlert) {
    // a new monitor, or a changed alert: the linked rules are (re)created; unchanged, they are kept as they are
    body.alert = wantsAlert
      ? { on_failure: f.alertOnFailure, latency_ms: latency, channels: f.webhook.trim() ? [{ type: 'webhook', url: f.webhook.trim() }] : [] }
      : null
  }
  return { body }
}

/** "200 · 120 ms" or "status: status 500, expected 200; …" for a run. */
export function describeRun(run: Pick<Run, 'ok' | 'status_code' | 'latency_ms' | 'failed'>): string {
  const latency = `${Math.round(run.latency_ms)} ms`
  if (run.ok) return `${run.status_code ?? ''} · ${latency}`.trim()
  return run.failed.map((a) => `${a.type}: ${a.detail}`).join('; ') || `failed · ${latency}`
}

export function describeSchedule(m: Pick<Monitor, 'interval_s' | 'cron'>): string {
  return m.cron ? `cron ${m.cron}` : `every ${fmtSeconds(m.interval_s)}`
}
