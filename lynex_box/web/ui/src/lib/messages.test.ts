import { describe, expect, it } from 'vitest'
import { normaliseMessage, prettyArguments, preview, renderValue, spanToolCalls, toolResults } from './messages'

const stored = {
  messages: [
    { role: 'system', content: 'You are a weather bot.' },
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
    { role: 'tool', content: 'sunny, 21C', tool_call_id: 'call_1' },
  ],
}

describe('renderValue', () => {
  it('renders the stored message shape as a conversation', () => {
    const r = renderValue(stored, 'input')
    expect(r.kind).toBe('messages')
    if (r.kind !== 'messages') return
    expect(r.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool'])
    expect(r.messages[2].tool_calls).toEqual([{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }])
    expect(r.messages[3].tool_call_id).toBe('call_1')
  })
  it('keeps the finish reason of an output', () => {
    const r = renderValue({ messages: [{ role: 'assistant', content: 'It is sunny.' }], finish_reason: 'stop' }, 'output')
    expect(r).toEqual({ kind: 'messages', messages: [{ role: 'assistant', content: 'It is sunny.' }], finishReason: 'stop' })
  })
  it('parses JSON text and accepts a bare message list', () => {
    const r = renderValue(JSON.stringify(stored.messages), 'input')
    expect(r.kind).toBe('messages')
  })
  it('maps role aliases and unknown roles by side', () => {
    expect(normaliseMessage({ role: 'human', content: 'hi' }, 'user')?.role).toBe('user')
    expect(normaliseMessage({ role: 'developer', content: 'x' }, 'user')?.role).toBe('system')
    expect(normaliseMessage({ role: 'ai', content: 'x' }, 'user')?.role).toBe('assistant')
    expect(normaliseMessage({ role: 'weird', content: 'x' }, 'assistant')?.role).toBe('assistant')
  })
  it('joins content parts into text', () => {
    const m = normaliseMessage({ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, 'user')
    expect(m?.content).toBe('a\nb')
  })
  it('keeps plain strings as text and other values as JSON', () => {
    expect(renderValue('What is 2+2?', 'input')).toEqual({ kind: 'text', text: 'What is 2+2?' })
    expect(renderValue('{not json', 'input')).toEqual({ kind: 'text', text: '{not json' })
    expect(renderValue({ query: 'x', k: 3 }, 'input')).toEqual({ kind: 'json', value: { query: 'x', k: 3 } })
    expect(renderValue([1, 2], 'input')).toEqual({ kind: 'json', value: [1, 2] })
    expect(renderValue(null, 'output')).toEqual({ kind: 'empty' })
    expect(renderValue('', 'output')).toEqual({ kind: 'empty' })
  })
  it('does not take a chain state with a messages key of non-messages for a conversation', () => {
    expect(renderValue({ messages: [1, 2] }, 'input').kind).toBe('json')
  })
})

describe('tool calls', () => {
  it('finds tool results by call id', () => {
    const r = renderValue(stored, 'input')
    if (r.kind !== 'messages') throw new Error('expected messages')
    expect(toolResults(r.messages).get('call_1')).toBe('sunny, 21C')
  })
  it('pretty-prints arguments given as JSON text or as values, and keeps other text', () => {
    expect(prettyArguments('{"city":"Paris"}')).toBe('{\n  "city": "Paris"\n}')
    expect(prettyArguments({ a: 1 })).toBe('{\n  "a": 1\n}')
    expect(prettyArguments('not json')).toBe('not json')
    expect(prettyArguments(null)).toBe('')
  })
  it('reads the tool_calls column, including OpenAI function objects', () => {
    expect(spanToolCalls('[{"id":"c","name":"f","arguments":"{}","result":"ok"}]')).toEqual([{ id: 'c', name: 'f', arguments: '{}', result: 'ok' }])
    expect(spanToolCalls([{ id: 'c', function: { name: 'f', arguments: '{}' } }])).toEqual([{ id: 'c', name: 'f', arguments: '{}' }])
    expect(spanToolCalls(null)).toEqual([])
    expect(spanToolCalls('garbage')).toEqual([])
  })
})

describe('preview', () => {
  it('shows the last user message of an input and the reply of an output', () => {
    expect(preview(stored, 'input')).toBe('Weather in Paris?')
    expect(preview({ messages: [{ role: 'assistant', content: 'It  is\nsunny.' }] }, 'output')).toBe('It is sunny.')
  })
  it('names requested tools when there is no text', () => {
    expect(preview({ messages: [stored.messages[2]] }, 'output')).toBe('→ get_weather()')
  })
  it('cuts long text', () => {
    expect(preview('x'.repeat(300), 'input', 10)).toBe('xxxxxxxxx…')
  })
})
