// A trace's agents, tools, LLM calls and retrievers as a graph: spans aggregated by (role, name) into nodes with
// call counts, an edge from a node to each node whose spans it called, and a layered layout for SVG. Other spans
// (chains, plain spans) are not nodes: their children hang from the nearest agent, tool or LLM call above. Pure.
import { isLlmCall } from './kinds'

export type Role = 'agent' | 'tool' | 'llm' | 'retriever'

export interface GraphSpan {
  span_id: string
  parent_span_id?: string | null
  name?: string | null
  kind?: string | null
  status?: string | null
}

export interface GraphNode {
  key: string
  role: Role
  name: string
  count: number
  errors: number
  spans: number[] // indices into the spans given, in their order
  layer: number
  row: number
}

export interface GraphEdge {
  from: string
  to: string
  count: number
}

export interface AgentGraph {
  nodes: GraphNode[]
  edges: GraphEdge[]
  layers: number
}

export function roleOf(kind: string | null | undefined): Role | null {
  if (kind === 'agent') return 'agent'
  if (kind === 'tool') return 'tool'
  if (isLlmCall(kind)) return 'llm'
  if (kind === 'retriever' || kind === 'reranker' || kind === 'embedding') return 'retriever'
  return null
}

export function buildAgentGraph(spans: readonly GraphSpan[]): AgentGraph {
  const byId = new Map<string, number>()
  spans.forEach((s, i) => byId.set(s.span_id, i))
  const nodeKey: (string | null)[] = spans.map((s) => {
    const role = roleOf(s.kind)
    return role ? `${role}:${s.name ?? '(unnamed)'}` : null
  })
  // Per span: the nearest ancestor that is a node, and how many ancestors are nodes (its layer). Resolved top-down
  // along each unresolved chain of ancestors (no recursion: traces may be thousands of spans deep).
  const above: ([number | null, number] | undefined)[] = new Array(spans.length)
  const parentOf = (i: number) => (spans[i].parent_span_id ? byId.get(spans[i].parent_span_id!) : undefined)
  const resolve = (i: number): [number | null, number] => {
    const chain: number[] = []
    let at: number | undefined = i
    while (at !== undefined && above[at] === undefined && !chain.includes(at) && chain.length <= spans.length) {
      chain.push(at)
      at = parentOf(at)
    }
    for (let k = chain.length - 1; k >= 0; k--) {
      const c = chain[k]
      const p = parentOf(c)
      const pr = p === undefined || above[p] === undefined ? ([null, 0] as [number | null, number]) : above[p]!
      above[c] = p !== undefined && above[p] !== undefined && nodeKey[p] !== null ? [p, pr[1] + 1] : pr
    }
    return above[i]!
  }
  const nodes = new Map<string, GraphNode>()
  const edges = new Map<string, GraphEdge>()
  spans.forEach((s, i) => {
    const key = nodeKey[i]
    if (key === null) return
    const [parent, layer] = resolve(i)
    let n = nodes.get(key)
    if (!n) {
      n = { key, role: roleOf(s.kind)!, name: s.name ?? '(unnamed)', count: 0, errors: 0, spans: [], layer, row: 0 }
      nodes.set(key, n)
    }
    n.count++
    if (s.status === 'error') n.errors++
    n.spans.push(i)
    n.layer = Math.min(n.layer, layer)
    if (parent !== null) {
      const from = nodeKey[parent]!
      const ek = `${from}\u0000${key}`
      const e = edges.get(ek) ?? { from, to: key, count: 0 }
      e.count++
      edges.set(ek, e)
    }
  })
  const list = [...nodes.values()]
  const rows = new Map<number, number>()
  for (const n of list) {
    n.row = rows.get(n.layer) ?? 0
    rows.set(n.layer, n.row + 1)
  }
  return { nodes: list, edges: [...edges.values()], layers: rows.size ? Math.max(...rows.keys()) + 1 : 0 }
}
