// A project's PII setting as the settings API answers it (docs/pii.md), and the text form of its custom patterns.
export type PiiMode = 'off' | 'detect' | 'redact'

export interface PiiSetting {
  mode: PiiMode
  custom_patterns: { name: string; pattern: string }[]
  masked_keys: string[]
  default_mode?: PiiMode
  is_default?: boolean
}

export function patternsText(patterns: PiiSetting['custom_patterns']): string {
  return patterns.map((p) => `${p.name}=${p.pattern}`).join('\n')
}

export function parsePatterns(text: string): { ok: true; patterns: PiiSetting['custom_patterns'] } | { ok: false; error: string } {
  const patterns: PiiSetting['custom_patterns'] = []
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line) continue
    const at = line.indexOf('=')
    if (at <= 0) return { ok: false, error: `"${line}": write name=pattern, e.g. acct=ACCT-[0-9]{6}` }
    patterns.push({ name: line.slice(0, at).trim(), pattern: line.slice(at + 1) })
  }
  return { ok: true, patterns }
}
