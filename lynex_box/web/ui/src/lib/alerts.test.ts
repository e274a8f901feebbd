import { describe, expect, it } from 'vitest'
import { describeRule, fmtMetricValue, fmtSeconds, parseDuration, ruleBody, ruleFields } from './alerts'
import type { ChannelType, Rule } from './alerts'

describe('durations', () => {
  it('parses units and plain seconds', () => {
    expect(parseDuration('90s')).toBe(90)
    expect(parseDuration('5m')).toBe(300)
    expect(parseDuration(' 1H ')).toBe(3600)
    expect(parseDuration('2d')).toBe(172800)
    expect(parseDuration('45')).toBe(45)
    expect(parseDuration('5 minutes')).toBeNull()
    expect(parseDuration('-5m')).toBeNull()
  })
  it('formats in the largest whole unit and round-trips', () => {
    expect(fmtSeconds(300)).toBe('5m')
    expect(fmtSeconds(90)).toBe('90s')
    expect(fmtSeconds(7200)).toBe('2h')
    expect(fmtSeconds(0)).toBe('0s')
    for (const s of [1, 59, 60, 61, 3600, 86400, 90000]) expect(parseDuration(fmtSeconds(s))).toBe(s)
  })
})

describe('rules in words', () => {
  it('describes the condition with the metric in its unit', () => {
    const rule = { metric: 'error_rate' as const, comparison: 'gt' as const, threshold: 0.05, window_s: 300, filters: { model: 'gpt-4o', environment: 'prod' } }
    expect(describeRule(rule)).toBe('Error rate > 5% over 5m where environment=prod, model=gpt-4o')
    expect(describeRule({ ...rule, metric: 'total_cost', comparison: 'gte', threshold: 12.5, filters: {} })).toBe('Cost ≥ $12.50 over 5m')
    expect(fmtMetricValue('p95_latency_ms', 1234.4)).toBe('1,234 ms')
    expect(fmtMetricValue('error_count', null)).toBe('no data')
  })
})

describe('the form and the API body', () => {
  it('builds the body, taking the error rate in percent', () => {
    const fields = { ...ruleFields(), name: ' Checkout errors ', threshold: '12.5', spanName: 'checkout', channels: [{ type: 'webhook' as const, url: 'https://hooks.example.com/a', secret: 'x'.repeat(16) }] }
    const out = ruleBody(fields)
    expect(out).toEqual({
      body: {
        name: 'Checkout errors',
        metric: 'error_rate',
        comparison: 'gt',
        threshold: 0.125,
        window_s: 300,
        interval_s: 60,
        renotify_s: 0,
        enabled: true,
        filters: { name: 'checkout' },
        channels: [{ type: 'webhook', url: 'https://hooks.example.com/a', secret: 'x'.repeat(16) }],
      },
    })
  })
  it('names the first problem', () => {
    expect(ruleBody({ ...ruleFields(), name: '' })).toEqual({ error: 'Give the rule a name.' })
    expect(ruleBody({ ...ruleFields(), name: 'a', threshold: 'lots' })).toEqual({ error: 'The threshold must be a number.' })
    expect(ruleBody({ ...ruleFields(), name: 'a', window: 'soon' })).toEqual({ error: 'The window must look like 90s, 5m, 1h or 1d.' })
    expect(ruleBody({ ...ruleFields(), name: 'a', channels: [{ type: 'slack', url: 'ftp://x' }] })).toEqual({
      error: 'Channel 1: the URL must start with http:// or https://.',
    })
  })
  it('keeps stored channels by id when editing, and shows the stored rule back in the form', () => {
    const rule: Rule = {
      id: 'alr_1',
      name: 'Rate',
      enabled: false,
      metric: 'error_rate',
      window_s: 600,
      filters: { model: 'm' },
      comparison: 'gte',
      threshold: 0.07,
      interval_s: 30,
      renotify_s: 3600,
      channels: [{ id: 'ch_1', type: 'slack', target: 'https://hooks.slack.com/…abcd', signed: false }],
      state: 'ok',
      last_value: null,
      last_evaluated_at: null,
      last_error: null,
    }
    const fields = ruleFields(rule)
    expect([fields.threshold, fields.window, fields.interval, fields.renotify, fields.model]).toEqual(['7', '10m', '30s', '1h', 'm'])
    const out = ruleBody(fields)
    expect('body' in out && out.body.channels).toEqual([{ id: 'ch_1' }])
    expect('body' in out && out.body.threshold).toBeCloseTo(0.07)
  })
  it('builds a plugin channel from the fields its type lists', () => {
    const pagerduty: ChannelType = {
      type: 'pagerduty',
      label: 'PagerDuty',
      available: true,
      fields: [
        { name: 'routing_key', label: 'Integration (routing) key', kind: 'secret', required: true },
        { name: 'severity', label: 'Severity', kind: 'choice', required: false, choices: ['critical', 'error'], default: 'error' },
        { name: 'events_url', label: 'Events API URL (optional)', kind: 'url', required: false },
      ],
    }
    const base = { ...ruleFields(), name: 'a' }
    const out = ruleBody({ ...base, channels: [{ type: 'pagerduty', values: { routing_key: ' k1 ' } }] }, [pagerduty])
    expect('body' in out && out.body.channels).toEqual([{ type: 'pagerduty', routing_key: 'k1', severity: 'error' }])
    expect(ruleBody({ ...base, channels: [{ type: 'pagerduty' }] }, [pagerduty])).toEqual({
      error: 'Channel 1: give the integration (routing) key.',
    })
    const badUrl = { type: 'pagerduty', values: { routing_key: 'k', events_url: 'ftp://x' } }
    expect(ruleBody({ ...base, channels: [badUrl] }, [pagerduty])).toEqual({
      error: 'Channel 1: the events_url must start with http:// or https://.',
    })
  })
})
