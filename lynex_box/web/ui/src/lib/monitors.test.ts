import { describe, expect, it } from 'vitest'
import { describeRun, monitorBody, monitorFields } from './monitors'
import type { Monitor } from './monitors'

const stored: Monitor = {
  id: 'mon_1', name: 'health', enabled: true, interval_s: 300, cron: null, timeout_s: 5,
  target: { type: 'http', method: 'GET', url: 'https://app/health', body: null, header_names: ['Authorization'] },
  assertions: [{ type: 'status', equals: 200 }, { type: 'json_path', path: '$.x', exists: true }],
  rule_ids: ['alr_1'], span_name: 'synthetic health', last_run: null,
}

describe('monitor form', () => {
  it('builds a new HTTP monitor with assertions and a failure alert', () => {
    const f = { ...monitorFields(), name: 'api', url: 'https://app/x', status: '200', jsonPath: '$.a[0]', jsonEquals: '"ok"', webhook: 'https://hook' }
    const out = monitorBody(f)
    expect('body' in out && out.body).toMatchObject({
      name: 'api', interval_s: 300, target: { type: 'http', method: 'GET', url: 'https://app/x' },
      assertions: [{ type: 'status', equals: 200 }, { type: 'json_path', path: '$.a[0]', equals: 'ok' }],
      alert: { on_failure: true, channels: [{ type: 'webhook', url: 'https://hook' }] },
    })
  })

  it('builds a model monitor whose text checks are answer checks', () => {
    const f = { ...monitorFields(), name: 'm', kind: 'model' as const, baseUrl: 'https://api/v1', model: 'gpt', prompt: 'Hi', contains: 'Paris', apiKey: 'sk' }
    const out = monitorBody(f)
    expect('body' in out && out.body.target).toMatchObject({ type: 'model', api_key: 'sk', messages: [{ role: 'user', content: 'Hi' }] })
    expect('body' in out && out.body.assertions).toEqual([{ type: 'answer_contains', value: 'Paris' }])
  })

  it('keeps stored secrets, extra assertions and unchanged alerts when editing', () => {
    const out = monitorBody(monitorFields(stored), stored)
    expect('body' in out && out.body.target).not.toHaveProperty('headers')
    expect('body' in out && out.body).not.toHaveProperty('alert')
    expect('body' in out && out.body.assertions).toEqual(stored.assertions)
    const off = monitorBody({ ...monitorFields(stored), alertOnFailure: false }, stored)
    expect('body' in off && off.body.alert).toBeNull()
  })

  it('names the first bad field', () => {
    expect(monitorBody({ ...monitorFields(), name: 'x', interval: 'often' })).toEqual({ error: '"often" is not a duration like 60s, 5m or 1h' })
    expect(monitorBody({ ...monitorFields(), name: 'x', headers: 'nocolon' })).toHaveProperty('error')
    expect(monitorBody({ ...monitorFields(), name: 'x', jsonPath: '$.a', jsonEquals: 'not json' })).toHaveProperty('error')
  })

  it('describes runs', () => {
    expect(describeRun({ ok: true, status_code: 200, latency_ms: 12.4, failed: [] })).toBe('200 · 12 ms')
    expect(describeRun({ ok: false, status_code: 500, latency_ms: 3, failed: [{ type: 'status', ok: false, detail: 'status 500' }] })).toBe('status: status 500')
  })
})
