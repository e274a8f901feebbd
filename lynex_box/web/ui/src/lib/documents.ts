// The retrieved documents of a span, as the server stores them: attributes it does not map are kept in `attributes`
// with their keys as sent (docs/otlp.md). Pure; never throws on odd values.
// - OpenInference: `retrieval.documents.{i}.document.{id,content,score,metadata}` (flattened), or
//   `retrieval.documents` as a list; a reranker's `reranker.output_documents.{i}.document.*`.
// - OpenTelemetry GenAI: `gen_ai.retrieval.documents`, a list (or its JSON text) of `{id, content|text, score, metadata}`.
// - Native events of kind retriever/reranker: an output that is a list of such objects, or `{documents: [...]}`.

export interface RetrievedDocument {
  id: string | null
  content: string | null
  score: number | null
  metadata: unknown
}

const FLAT = /^(retrieval\.documents|reranker\.output_documents)\.(\d+)\.document\.(id|content|score|metadata)$/
const LIST_KEYS = ['retrieval.documents', 'gen_ai.retrieval.documents', 'reranker.output_documents']
const TEXT_KEYS = ['content', 'text', 'page_content', 'document.content']

function parsed(value: unknown): unknown {
  if (typeof value !== 'string') return value
  const t = value.trim()
  if (!(t.startsWith('{') || t.startsWith('['))) return value
  try {
    return JSON.parse(t)
  } catch {
    return value
  }
}

function num(v: unknown): number | null {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v
  return typeof n === 'number' && Number.isFinite(n) ? n : null
}

function str(v: unknown): string | null {
  if (typeof v === 'string') return v
  if (typeof v === 'number') return String(v)
  return null
}

/** One document from an object of any of the shapes above (null when it has neither content nor id). */
export function documentOf(item: unknown): RetrievedDocument | null {
  const v = parsed(item)
  if (typeof v === 'string') return { id: null, content: v, score: null, metadata: null }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null
  const o = v as Record<string, unknown>
  if (o.document && typeof o.document === 'object') {
    const inner = documentOf(o.document)
    if (inner) return { ...inner, score: inner.score ?? num(o.score) }
  }
  const content = TEXT_KEYS.map((k) => str(o[k])).find((x) => x !== null) ?? null
  const id = str(o.id ?? o['document.id'] ?? o.doc_id)
  if (content === null && id === null) return null
  const metadata = parsed(o.metadata ?? o['document.metadata'] ?? null)
  return { id, content, score: num(o.score ?? o['document.score'] ?? o.relevance_score), metadata }
}

/** Every document a span's attributes (and, for retrievers and rerankers, its output) carry, in index order. */
export function retrievedDocuments(attributes: Record<string, unknown> | null | undefined, output?: unknown, kind?: string | null): RetrievedDocument[] {
  const attrs = attributes ?? {}
  const flat = new Map<string, Record<string, unknown>>()
  for (const [key, value] of Object.entries(attrs)) {
    const m = FLAT.exec(key)
    if (!m) continue
    const slot = `${m[1]}|${m[2].padStart(6, '0')}`
    flat.set(slot, { ...(flat.get(slot) ?? {}), [m[3]]: value })
  }
  const out: RetrievedDocument[] = []
  for (const slot of [...flat.keys()].sort()) {
    const d = documentOf(flat.get(slot))
    if (d) out.push(d)
  }
  for (const key of LIST_KEYS) {
    const items = parsed(attrs[key])
    if (Array.isArray(items)) for (const it of items) {
      const d = documentOf(it)
      if (d) out.push(d)
    }
  }
  if (out.length === 0 && (kind === 'retriever' || kind === 'reranker')) {
    const v = parsed(output)
    const items = Array.isArray(v) ? v : v && typeof v === 'object' ? (v as Record<string, unknown>).documents : null
    if (Array.isArray(items)) for (const it of items) {
      const d = documentOf(it)
      if (d && (d.id !== null || d.score !== null || typeof it === 'object')) out.push(d)
    }
  }
  return out
}

/** The attribute keys `retrievedDocuments` reads (shown as documents, so the attributes panel can mark them). */
export function isDocumentKey(key: string): boolean {
  return FLAT.test(key) || LIST_KEYS.includes(key)
}
