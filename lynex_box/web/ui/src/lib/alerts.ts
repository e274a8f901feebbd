// Alert rules in words and back: metric labels, durations like "5m", a rule's condition as a sentence, and the
// JSON body the alerts API takes from the form's fields. Pure functions: no DOM, no globals.
import { fmtCost, fmtInt, fmtPercent } from './format'

export type Metric = 'error_rate' | 'error_count' | 'span_count' | 'total_cost' | 'p95_latency_ms' | 'tokens'
export type Comparison = 'gt' | 'gte' | 'lt' | 'lte'

export const METRICS: [Metric, string][] = [
  ['error_rate', 'Error rate (%)'],
  ['error_count', 'Errors'],
  ['span_count', 'Spans'],
  ['total_cost', 'Cost (USD)'],
  ['p95_latency_ms', 'p95 latency (ms)'],
  ['tokens', 'Tokens'],
]

export const COMPARISONS: [Comparison, string][] = [
  ['gt', '>'],
  ['gte', '≥'],
  ['lt', '<'],
  ['lte', '≤'],
]

export interface ChannelOut {
  id: string
  type: string // webhook, slack, email, teams, pagerduty, opsgenie, or a channel plugin's type
  target?: string
  signed?: boolean
  to?: string[]
  severity?: string
  priority?: string
}

/** One setting of a channel type, as GET .../alerts/channel-types lists it (the plugin's `form`). */
export interface ChannelFormField {
  name: string
  label: string
  kind: 'url' | 'text' | 'secret' | 'emails' | 'choice'
  required: boolean
  choices?: string[]
  default?: string
  placeholder?: string
}

/** A channel type rules may use (a loaded channel plugin); `available` is false for email while [smtp] is off. */
export interface ChannelType {
  type: string
  label: string
  available: boolean
  fields: ChannelFormField[]
}

/** What the form offers when the channel types cannot be listed: the three types every instance has had. */
export const FALLBACK_CHANNEL_TYPES: ChannelType[] = [
  { type: 'webhook', label: 'Webhook (JSON)', available: true, fields: [] },
  { type: 'slack', label: 'Slack incoming webhook', available: true, fields: [] },
  { type: 'email', label: 'Email', available: true, fields: [] },
]

/** The webhook, Slack and email types keep their own inputs (url, secret, to); every other type's inputs are
 * built from the fields its plugin lists, their values kept in `values`. */
export function hasOwnInputs(type: string): boolean {
  return type === 'webhook' || type === 'slack' || type === 'email'
}

export interface Rule {
  id: string
  name: string
  enabled: boolean
  metric: Metric
  window_s: number
  filters: Record<string, string>
  comparison: Comparison
  threshold: number
  interval_s: number
  renotify_s: number
  channels: ChannelOut[]
  state: 'ok' | 'firing'
  last_value: number | null
  last_evaluated_at: number | null
  last_error: string | null
}

const UNITS: [string, number][] = [
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
]

/** "90s", "5m", "1h", "2d" or plain seconds → seconds; null for anything else. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(text)
  if (!m) return null
  const unit = UNITS.find(([u]) => u === (m[2] || 's').toLowerCase())
  return unit ? Number(m[1]) * unit[1] : null
}

/** Seconds in the largest whole unit: 300 → "5m", 90 → "90s", 0 → "0s". */
export function fmtSeconds(seconds: number): string {
  for (const [unit, size] of UNITS) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}

export function metricLabel(metric: string): string {
  return METRICS.find(([m]) => m === metric)?.[1] ?? metric
}

/** A metric's value as people read it: error rate in %, cost in $, latency in ms, counts as integers. */
export function fmtMetricValue(metric: string, value: number | null | undefined): string {
  if (value === null || value === undefined) return 'no data'
  if (metric === 'error_rate') return fmtPercent(value, 2)
  if (metric === 'total_cost') return fmtCost(value)
  if (metric === 'p95_latency_ms') return `${fmtInt(value)} ms`
  return fmtInt(value)
}

/** "Error rate (%) > 5% over 5m where model=gpt-4o". */
export function describeRule(rule: Pick<Rule, 'metric' | 'comparison' | 'threshold' | 'window_s' | 'filters'>): string {
  const sign = COMPARISONS.find(([c]) => c === rule.comparison)?.[1] ?? rule.comparison
  const where = Object.entries(rule.filters ?? {})
    .filter(([, v]) => v)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')
  const label = metricLabel(rule.metric).replace(/ \(.*\)$/, '')
  return `${label} ${sign} ${fmtMetricValue(rule.metric, rule.threshold)} over ${fmtSeconds(rule.window_s)}${where ? ` where ${where}` : ''}`
}

export interface ChannelField {
  id?: string // an existing channel kept as it is stored
  type: string
  url?: string
  secret?: string
  to?: string
  values?: Record<string, string> // the settings of a type without its own inputs (hasOwnInputs)
}

export interface RuleFields {
  name: string
  metric: Metric
  comparison: Comparison
  threshold: string
  window: string
  interval: string
  renotify: string
  enabled: boolean
  model: string
  spanName: string
  environment: string
  channels: ChannelField[]
}

/** A channel of a type without its own inputs, from the fields its plugin lists; or the first problem. */
function pluginChannel(c: ChannelField, n: number, kind: ChannelType | undefined): Record<string, unknown> | string {
  const ch: Record<string, unknown> = { type: c.type }
  for (const field of kind?.fields ?? []) {
    const value = (c.values?.[field.name] ?? field.default ?? '').trim()
    if (!value) {
      if (field.required) return `Channel ${n}: give the ${field.label.replace(/ \(.*\)$/, '').toLowerCase()}.`
      continue
    }
    if (field.kind === 'url' && !/^https?:\/\/\S+$/.test(value)) return `Channel ${n}: the ${field.name} must start with http:// or https://.`
    ch[field.name] = field.kind === 'emails' ? value.split(/[\s,;]+/).filter(Boolean) : value
  }
  return ch
}

/** The form's fields as the API's JSON body, or the first problem in words. The error rate is typed in %.
 * `types` are the channel types the server lists (their fields build the channels of plugin types). */
export function ruleBody(f: RuleFields, types: ChannelType[] = []): { body: Record<string, unknown> } | { error: string } {
  if (!f.name.trim()) return { error: 'Give the rule a name.' }
  const threshold = Number(f.threshold)
  if (f.threshold.trim() === '' || !Number.isFinite(threshold)) return { error: 'The threshold must be a number.' }
  const window = parseDuration(f.window)
  if (!window) return { error: 'The window must look like 90s, 5m, 1h or 1d.' }
  const interval = parseDuration(f.interval)
  if (!interval) return { error: 'The evaluation interval must look like 30s, 1m or 5m.' }
  const renotify = f.renotify.trim() === '' ? 0 : parseDuration(f.renotify)
  if (renotify === null) return { error: 'Re-notify must be empty, 0, or look like 30m or 1h.' }
  const filters: Record<string, string> = {}
  if (f.model.trim()) filters.model = f.model.trim()
  if (f.spanName.trim()) filters.name = f.spanName.trim()
  if (f.environment.trim()) filters.environment = f.environment.trim()
  const channels: Record<string, unknown>[] = []
  for (const [i, c] of f.channels.entries()) {
    if (c.id) {
      channels.push({ id: c.id })
      continue
    }
    if (!hasOwnInputs(c.type)) {
      const ch = pluginChannel(c, i + 1, types.find((t) => t.type === c.type))
      if (typeof ch === 'string') return { error: ch }
      channels.push(ch)
      continue
    }
    if (c.type === 'email') {
      const to = (c.to ?? '').split(/[\s,;]+/).filter(Boolean)
      if (!to.length) return { error: `Channel ${i + 1}: give at least one email address.` }
      channels.push({ type: 'email', to })
      continue
    }
    const url = (c.url ?? '').trim()
    if (!/^https?:\/\/\S+$/.test(url)) return { error: `Channel ${i + 1}: the URL must start with http:// or https://.` }
    const ch: Record<string, unknown> = { type: c.type, url }
    if (c.type === 'webhook' && c.secret) ch.secret = c.secret
    channels.push(ch)
  }
  return {
    body: {
      name: f.name.trim(),
      metric: f.metric,
      comparison: f.comparison,
      threshold: f.metric === 'error_rate' ? threshold / 100 : threshold,
      window_s: window,
      interval_s: interval,
      renotify_s: renotify,
      enabled: f.enabled,
      filters,
      channels,
    },
  }
}

/** The form's fields for an existing rule (its channels kept by id), or defaults for a new one. */
export function ruleFields(rule?: Rule): RuleFields {
  if (!rule) {
    return {
      name: '',
      metric: 'error_rate',
      comparison: 'gt',
      threshold: '5',
      window: '5m',
      interval: '1m',
      renotify: '',
      enabled: true,
      model: '',
      spanName: '',
      environment: '',
      channels: [],
    }
  }
  const threshold = rule.metric === 'error_rate' ? Number((rule.threshold * 100).toPrecision(12)) : rule.threshold
  return {
    name: rule.name,
    metric: rule.metric,
    comparison: rule.comparison,
    threshold: String(threshold),
    window: fmtSeconds(rule.window_s),
    interval: fmtSeconds(rule.interval_s),
    renotify: rule.renotify_s ? fmtSeconds(rule.renotify_s) : '',
    enabled: rule.enabled,
    model: rule.filters.model ?? '',
    spanName: rule.filters.name ?? '',
    environment: rule.filters.environment ?? '',
    channels: rule.channels.map((c) => ({ id: c.id, type: c.type })),
  }
}
