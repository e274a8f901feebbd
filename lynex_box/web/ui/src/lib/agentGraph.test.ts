import { describe, expect, it } from 'vitest'
import { buildAgentGraph } from './agentGraph'

describe('buildAgentGraph', () => {
  it('aggregates spans by role and name, counting calls and edges through chains', () => {
    const spans = [
      { span_id: 'r', name: 'planner', kind: 'agent' },
      { span_id: 'c', parent_span_id: 'r', name: 'step', kind: 'chain' },
      { span_id: 'l1', parent_span_id: 'c', name: 'chat gpt-4o', kind: 'chat' },
      { span_id: 't1', parent_span_id: 'c', name: 'search', kind: 'tool', status: 'error' },
      { span_id: 't2', parent_span_id: 'r', name: 'search', kind: 'tool' },
      { span_id: 'l2', parent_span_id: 'r', name: 'chat gpt-4o', kind: 'llm' },
      { span_id: 'w', parent_span_id: 't2', name: 'fetch', kind: 'retriever' },
    ]
    const g = buildAgentGraph(spans)
    const byKey = Object.fromEntries(g.nodes.map((n) => [n.key, n]))
    expect(Object.keys(byKey).sort()).toEqual(['agent:planner', 'llm:chat gpt-4o', 'retriever:fetch', 'tool:search'])
    expect(byKey['tool:search']).toMatchObject({ count: 2, errors: 1, spans: [3, 4], layer: 1 })
    expect(byKey['llm:chat gpt-4o']).toMatchObject({ count: 2, layer: 1 })
    expect(byKey['retriever:fetch'].layer).toBe(2)
    expect(g.edges).toContainEqual({ from: 'agent:planner', to: 'tool:search', count: 2 })
    expect(g.edges).toContainEqual({ from: 'agent:planner', to: 'llm:chat gpt-4o', count: 2 })
    expect(g.edges).toContainEqual({ from: 'tool:search', to: 'retriever:fetch', count: 1 })
    expect(g.layers).toBe(3)
  })

  it('survives a cycle of parents and children listed before their parents', () => {
    const spans = [
      { span_id: 'b', parent_span_id: 'a', name: 'x', kind: 'tool' },
      { span_id: 'a', parent_span_id: 'b', name: 'y', kind: 'agent' },
      { span_id: 'k', parent_span_id: 'z', name: 'x', kind: 'tool' },
      { span_id: 'z', name: 'top', kind: 'agent' },
    ]
    const g = buildAgentGraph(spans)
    expect(g.nodes.find((n) => n.key === 'tool:x')?.count).toBe(2)
    expect(g.edges).toContainEqual({ from: 'agent:top', to: 'tool:x', count: 1 })
  })
})
