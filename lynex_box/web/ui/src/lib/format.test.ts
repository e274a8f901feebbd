import { describe, expect, it } from 'vitest'
import { fmtAgo, fmtCompact, fmtCost, fmtDuration, fmtInt, fmtPercent, fmtTime, fmtTokens, shortId } from './format'

describe('format', () => {
  it('formats integers with separators and dashes for missing values', () => {
    expect(fmtInt(30096)).toBe('30,096')
    expect(fmtInt(null)).toBe('—')
    expect(fmtInt(Number.NaN)).toBe('—')
  })
  it('compacts large counts', () => {
    expect(fmtCompact(950)).toBe('950')
    expect(fmtCompact(1200)).toBe('1.2k')
    expect(fmtCompact(30000)).toBe('30k')
    expect(fmtCompact(3_400_000)).toBe('3.4M')
    expect(fmtCompact(250_000)).toBe('250k')
  })
  it('gives costs a precision that suits their size', () => {
    expect(fmtCost(0)).toBe('$0')
    expect(fmtCost(0.108)).toBe('$0.108')
    expect(fmtCost(0.0015)).toBe('$0.0015')
    expect(fmtCost(0.000123)).toBe('$0.00012')
    expect(fmtCost(12.345)).toBe('$12.35')
    expect(fmtCost(12345)).toBe('$12,345')
    expect(fmtCost(undefined)).toBe('—')
  })
  it('formats durations from microseconds to hours', () => {
    expect(fmtDuration(0)).toBe('0 ms')
    expect(fmtDuration(0.25)).toBe('250 µs')
    expect(fmtDuration(1.5)).toBe('1.5 ms')
    expect(fmtDuration(690)).toBe('690 ms')
    expect(fmtDuration(1800)).toBe('1.80 s')
    expect(fmtDuration(60_000)).toBe('1m 00s')
    expect(fmtDuration(2 * 3600_000 + 10 * 60_000)).toBe('2h 10m')
  })
  it('formats ratios as percentages', () => {
    expect(fmtPercent(0.25)).toBe('25%')
    expect(fmtPercent(0.125)).toBe('12.5%')
    expect(fmtPercent(3 / 30096)).toBe('<0.1%')
    expect(fmtPercent(0)).toBe('0%')
  })
  it('formats local times, with milliseconds on request', () => {
    const d = new Date(2026, 10, 27, 9, 5, 7, 42)
    expect(fmtTime(d)).toBe('2026-11-27 09:05:07')
    expect(fmtTime(d, true)).toBe('2026-11-27 09:05:07.042')
    expect(fmtTime('not a time')).toBe('not a time')
    expect(fmtTime(null)).toBe('—')
  })
  it('says how long ago', () => {
    const now = Date.parse('2026-11-27T10:00:00Z')
    expect(fmtAgo('2026-11-27T09:59:30Z', now)).toBe('30s ago')
    expect(fmtAgo('2026-11-27T09:57:00Z', now)).toBe('3 min ago')
    expect(fmtAgo('2026-11-25T10:00:00Z', now)).toBe('2 d ago')
  })
  it('formats tokens and shortens ids', () => {
    expect(fmtTokens(1200, 30)).toBe('1.2k → 30')
    expect(fmtTokens(0, 0)).toBe('—')
    expect(shortId('0123456789abcdef0123456789')).toBe('01234567…6789')
    expect(shortId('short')).toBe('short')
  })
})
