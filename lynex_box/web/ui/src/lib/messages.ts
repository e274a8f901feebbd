// Turns a span's stored `input`/`output` (docs/messages.md) into what the conversation view draws.
// Pure: the components only lay these items out.

export type Role = 'system' | 'user' | 'assistant' | 'tool'

export interface ToolCall {
  id: string | null
  name: string | null
  arguments: unknown
  result?: unknown
}

export interface Message {
  role: Role
  content: string | null
  tool_calls?: ToolCall[]
  tool_call_id?: string
  name?: string
  reasoning?: string
  attachments?: { type: string; url?: string; mime_type?: string }[]
}

/** What a stored value is: a conversation, plain text, a JSON value, or nothing. */
export type Rendered =
  | { kind: 'messages'; messages: Message[]; finishReason: string | null }
  | { kind: 'text'; text: string }
  | { kind: 'json'; value: unknown }
  | { kind: 'empty' }

const ROLE_ALIASES: Record<string, Role> = {
  system: 'system', developer: 'system',
  user: 'user', human: 'user',
  assistant: 'assistant', ai: 'assistant', model: 'assistant', bot: 'assistant', chatbot: 'assistant',
  tool: 'tool', function: 'tool', ipython: 'tool',
}

function asRole(value: unknown, fallback: Role): Role {
  return (typeof value === 'string' && ROLE_ALIASES[value.toLowerCase()]) || fallback
}

function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (Array.isArray(value)) {
    // content parts: [{type: 'text', text}] as some SDKs send them
    const texts = value.map((p) => (typeof p === 'string' ? p : p && typeof p === 'object' && 'text' in p ? String((p as { text: unknown }).text) : null))
    if (texts.every((t) => t !== null)) return texts.join('\n')
  }
  return JSON.stringify(value)
}

function asToolCalls(value: unknown): ToolCall[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined
  return value.filter((c) => c && typeof c === 'object').map((c) => {
    const call = c as Record<string, unknown>
    const fn = (call.function ?? {}) as Record<string, unknown>
    return {
      id: typeof call.id === 'string' ? call.id : null,
      name: typeof call.name === 'string' ? call.name : typeof fn.name === 'string' ? fn.name : null,
      arguments: call.arguments ?? fn.arguments ?? null,
      ...('result' in call ? { result: call.result } : {}),
    }
  })
}

export function normaliseMessage(raw: unknown, fallback: Role): Message | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null
  const m = raw as Record<string, unknown>
  if (!('role' in m) && !('content' in m)) return null
  const msg: Message = { role: asRole(m.role, fallback), content: asText(m.content) }
  const calls = asToolCalls(m.tool_calls)
  if (calls) msg.tool_calls = calls
  if (typeof m.tool_call_id === 'string') msg.tool_call_id = m.tool_call_id
  if (typeof m.name === 'string') msg.name = m.name
  if (typeof m.reasoning === 'string' && m.reasoning) msg.reasoning = m.reasoning
  if (Array.isArray(m.attachments)) msg.attachments = m.attachments as Message['attachments']
  return msg
}

function messageList(value: unknown, fallback: Role): Message[] | null {
  if (!Array.isArray(value) || value.length === 0) return null
  const out: Message[] = []
  for (const item of value) {
    const msg = normaliseMessage(item, fallback)
    if (!msg) return null
    out.push(msg)
  }
  return out
}

/** Parse a stored value (already JSON-decoded by the API, or JSON text) for display. */
export function renderValue(value: unknown, side: 'input' | 'output'): Rendered {
  const fallback: Role = side === 'input' ? 'user' : 'assistant'
  if (value === null || value === undefined || value === '') return { kind: 'empty' }
  if (typeof value === 'string') {
    const trimmed = value.trim()
    if ((trimmed.startsWith('{') || trimmed.startsWith('[')) && trimmed.length < 5_000_000) {
      try {
        return renderValue(JSON.parse(trimmed), side)
      } catch {
        /* plain text that looks like JSON */
      }
    }
    return { kind: 'text', text: value }
  }
  if (Array.isArray(value)) {
    const list = messageList(value, fallback)
    return list ? { kind: 'messages', messages: list, finishReason: null } : { kind: 'json', value }
  }
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const list = messageList(obj.messages, fallback)
    if (list) {
      const fr = obj.finish_reason
      return { kind: 'messages', messages: list, finishReason: typeof fr === 'string' ? fr : null }
    }
    return { kind: 'json', value }
  }
  return { kind: 'text', text: String(value) }
}

/** Tool results by call id, from `tool` messages: shown under the assistant's request. */
export function toolResults(messages: Message[]): Map<string, string | null> {
  const out = new Map<string, string | null>()
  for (const m of messages) if (m.role === 'tool' && m.tool_call_id) out.set(m.tool_call_id, m.content)
  return out
}

/** Pretty JSON text of tool arguments, whether they came as JSON text or a value. */
export function prettyArguments(args: unknown): string {
  if (args === null || args === undefined) return ''
  if (typeof args === 'string') {
    try {
      return JSON.stringify(JSON.parse(args), null, 2)
    } catch {
      return args
    }
  }
  return JSON.stringify(args, null, 2)
}

/** The span's `tool_calls` column as a list (it may be JSON text, a list, or null). */
export function spanToolCalls(value: unknown): ToolCall[] {
  let v = value
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v)
    } catch {
      return []
    }
  }
  return asToolCalls(v) ?? []
}

/** A one-line preview (first user text / assistant reply) for lists. */
export function preview(value: unknown, side: 'input' | 'output', max = 140): string {
  const r = renderValue(value, side)
  let text = ''
  if (r.kind === 'text') text = r.text
  else if (r.kind === 'json') text = JSON.stringify(r.value)
  else if (r.kind === 'messages') {
    const wanted: Role = side === 'input' ? 'user' : 'assistant'
    const pick = [...r.messages].reverse().find((m) => m.role === wanted && m.content) ?? r.messages[r.messages.length - 1]
    text = pick.content ?? (pick.tool_calls?.length ? `→ ${pick.tool_calls.map((c) => c.name ?? 'tool').join(', ')}()` : '')
  }
  text = text.replace(/\s+/g, ' ').trim()
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}
