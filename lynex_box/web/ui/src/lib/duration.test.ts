import { describe, expect, it } from 'vitest'
import { describeDuration, describeRetention, effective, formatDuration, MAX_HOT_WINDOW_S, parseDuration, parseRetentionDays } from './duration'

function seconds(text: string): number | string {
  const p = parseDuration(text)
  return p.ok ? p.seconds : p.error
}

describe('parseDuration', () => {
  it('reads bare seconds like the API and the CLI', () => {
    expect(seconds('3600')).toBe(3600)
    expect(seconds(' 0 ')).toBe(0)
  })
  it('reads one unit, in short and long spellings, in any case', () => {
    expect(seconds('90s')).toBe(90)
    expect(seconds('15m')).toBe(900)
    expect(seconds('12h')).toBe(43_200)
    expect(seconds('7d')).toBe(604_800)
    expect(seconds('2w')).toBe(1_209_600)
    expect(seconds('3 Hours')).toBe(10_800)
    expect(seconds('1 day')).toBe(86_400)
  })
  it('adds up several parts, with or without spaces', () => {
    expect(seconds('1d 12h')).toBe(129_600)
    expect(seconds('1h30m')).toBe(5400)
    expect(seconds('1w 1d 1h 1m 1s')).toBe(694_861)
  })
  it('refuses what it cannot read, naming the problem', () => {
    for (const bad of ['', '   ', '1.5h', '-5', 'h', '12x', '12h foo', '12h 3', 'forever']) {
      const p = parseDuration(bad)
      expect(p.ok, bad).toBe(false)
    }
    expect(seconds('12x')).toContain('unknown unit "x"')
    expect(seconds('')).toContain('12h')
  })
  it('refuses more than the server accepts', () => {
    expect(seconds(String(MAX_HOT_WINDOW_S))).toBe(MAX_HOT_WINDOW_S)
    expect(seconds(String(MAX_HOT_WINDOW_S + 1))).toContain('at most 36,500 days')
    expect(seconds('99999999999999999999d')).toContain('at most')
  })
})

describe('formatDuration', () => {
  it('gives the shortest exact form', () => {
    expect(formatDuration(0)).toBe('0s')
    expect(formatDuration(59)).toBe('59s')
    expect(formatDuration(43_200)).toBe('12h')
    expect(formatDuration(604_800)).toBe('7d')
    expect(formatDuration(129_600)).toBe('1d 12h')
    expect(formatDuration(90_061)).toBe('1d 1h 1m 1s')
    expect(formatDuration(-1)).toBe('')
  })
  it('round-trips through parseDuration', () => {
    for (const s of [0, 1, 59, 60, 3599, 3600, 43_200, 86_399, 86_400, 129_600, 604_800, 31_536_000, MAX_HOT_WINDOW_S]) {
      expect(seconds(formatDuration(s))).toBe(s)
    }
  })
})

describe('describe', () => {
  it('words durations with plurals', () => {
    expect(describeDuration(604_800)).toBe('7 days')
    expect(describeDuration(86_400)).toBe('1 day')
    expect(describeDuration(5400)).toBe('1 hour 30 minutes')
    expect(describeDuration(0)).toBe('0 seconds')
    expect(describeDuration(Number.NaN)).toBe('—')
  })
  it('words retentions, 0 keeping forever', () => {
    expect(describeRetention(0)).toBe('keep forever')
    expect(describeRetention(1)).toBe('1 day')
    expect(describeRetention(36_500)).toBe('36,500 days')
  })
})

describe('parseRetentionDays', () => {
  it('takes whole days from 0 to 36,500', () => {
    expect(parseRetentionDays('0')).toEqual({ ok: true, days: 0 })
    expect(parseRetentionDays(' 30 ')).toEqual({ ok: true, days: 30 })
    expect(parseRetentionDays('36500')).toEqual({ ok: true, days: 36_500 })
    for (const bad of ['', '-1', '1.5', '36501', 'ten']) expect(parseRetentionDays(bad).ok, bad).toBe(false)
  })
})

describe('effective', () => {
  it("is the project's value when set (0 included), else the server default", () => {
    expect(effective(0, 30)).toEqual({ value: 0, source: 'project' })
    expect(effective(7, 30)).toEqual({ value: 7, source: 'project' })
    expect(effective(null, 30)).toEqual({ value: 30, source: 'default' })
    expect(effective(undefined, undefined)).toEqual({ value: null, source: 'default' })
  })
})
