// A span's input/output drawn as a conversation: one bubble per message, tool calls with their
// arguments and (when the trace has them) results; values that are not messages as text or JSON.
import type { Message, ToolCall } from '../lib/messages'
import { prettyArguments, renderValue, toolResults } from '../lib/messages'
import { JsonView } from './ui'

export function ToolCallCard({ call, result }: { call: ToolCall; result?: unknown }) {
  const hasResult = result !== undefined && result !== null
  return (
    <div className="tool-call" data-testid="tool-call">
      <div className="tool-call-head">
        <span className="tool-icon" aria-hidden>ƒ</span>
        <strong className="tool-name">{call.name ?? 'tool'}</strong>
        {call.id && <span className="muted mono small">{call.id}</span>}
      </div>
      <div className="tool-section-label">Arguments</div>
      <pre className="tool-args mono" data-testid="tool-args">
        {prettyArguments(call.arguments) || '(none)'}
      </pre>
      {hasResult && (
        <>
          <div className="tool-section-label">Result</div>
          <pre className="tool-result mono">{typeof result === 'string' ? prettyArguments(result) : JSON.stringify(result, null, 2)}</pre>
        </>
      )}
    </div>
  )
}

function Bubble({ message, results }: { message: Message; results: Map<string, string | null> }) {
  return (
    <div className={`msg msg-${message.role}`} data-testid={`msg-${message.role}`}>
      <div className="msg-role">
        {message.role}
        {message.name && <span className="muted"> · {message.name}</span>}
        {message.tool_call_id && <span className="muted mono"> · {message.tool_call_id}</span>}
      </div>
      {message.reasoning && (
        <details className="msg-reasoning">
          <summary>Reasoning</summary>
          <div className="msg-text">{message.reasoning}</div>
        </details>
      )}
      {message.content !== null && message.content !== '' && <div className="msg-text">{message.content}</div>}
      {message.tool_calls?.map((c, i) => (
        <ToolCallCard key={c.id ?? i} call={c} result={c.result ?? (c.id ? results.get(c.id) : undefined)} />
      ))}
      {message.attachments?.map((a, i) => (
        <div key={i} className="muted small">
          📎 {a.type} {a.mime_type ?? ''} {a.url ?? ''}
        </div>
      ))}
    </div>
  )
}

export function ValueView({ value, side, extraMessages }: { value: unknown; side: 'input' | 'output'; extraMessages?: Message[] }) {
  const r = renderValue(value, side)
  if (r.kind === 'empty') return <div className="muted small">(none)</div>
  if (r.kind === 'text') return <div className="msg-text plain">{r.text}</div>
  if (r.kind === 'json') return <JsonView value={r.value} />
  const results = toolResults([...r.messages, ...(extraMessages ?? [])])
  return (
    <div className="conversation">
      {r.messages.map((m, i) => (
        <Bubble key={i} message={m} results={results} />
      ))}
      {r.finishReason && <div className="muted small">finish reason: {r.finishReason}</div>}
    </div>
  )
}
