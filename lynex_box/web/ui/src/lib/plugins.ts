// A plugin's per-project configuration as typed in the Plugins tab's editor (views/ProjectPlugins.tsx).

/** The editor's text as a configuration object, or the problem to show under it. */
export function parseConfig(text: string): { ok: true; config: Record<string, unknown> } | { ok: false; error: string } {
  let doc: unknown
  try {
    doc = JSON.parse(text.trim() === '' ? '{}' : text)
  } catch (err) {
    return { ok: false, error: `Not valid JSON: ${(err as Error).message}` }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { ok: false, error: 'The configuration must be a JSON object: { "key": value, … }' }
  }
  return { ok: true, config: doc as Record<string, unknown> }
}
