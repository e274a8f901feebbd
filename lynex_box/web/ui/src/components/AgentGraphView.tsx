// A trace's agents, tools, LLM calls and retrievers drawn as a graph in SVG (lib/agentGraph.ts builds it): one box per
// name with its call count, an arrow per caller → callee with how many calls. Clicking a box lists its spans.
import { useMemo, useState } from 'react'
import { buildAgentGraph } from '../lib/agentGraph'
import type { GraphNode, GraphSpan } from '../lib/agentGraph'
import { fmtInt } from '../lib/format'

const W = 176
const H = 46
const GAP_X = 64
const GAP_Y = 18
const PAD = 12

const ROLE_LABEL: Record<GraphNode['role'], string> = { agent: 'agent', tool: 'tool', llm: 'LLM call', retriever: 'retriever' }

export function AgentGraphView({ spans, selected, onSelect }: { spans: readonly GraphSpan[]; selected: number; onSelect: (i: number) => void }) {
  const graph = useMemo(() => buildAgentGraph(spans), [spans])
  const [active, setActive] = useState<string | null>(() => graph.nodes.find((n) => n.spans.includes(selected))?.key ?? null)
  const pos = useMemo(() => new Map(graph.nodes.map((n) => [n.key, { x: PAD + n.layer * (W + GAP_X), y: PAD + n.row * (H + GAP_Y) }])), [graph])
  if (graph.nodes.length === 0) {
    return (
      <div className="graph-empty muted" data-testid="agent-graph-empty">
        This trace has no agent, tool, LLM or retriever spans to draw.
      </div>
    )
  }
  const width = PAD * 2 + graph.layers * W + (graph.layers - 1) * GAP_X
  const rows = Math.max(...graph.nodes.map((n) => n.row)) + 1
  const height = PAD * 2 + rows * H + (rows - 1) * GAP_Y
  const node = graph.nodes.find((n) => n.key === active) ?? null
  return (
    <div className="agent-graph" data-testid="agent-graph">
      <div className="graph-canvas">
        <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Agent graph">
          <defs>
            <marker id="graph-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" className="graph-arrow" />
            </marker>
          </defs>
          {graph.edges.map((e) => {
            const a = pos.get(e.from)!
            const b = pos.get(e.to)!
            const self = e.from === e.to
            const x1 = a.x + W
            const y1 = a.y + H / 2
            const x2 = b.x
            const y2 = b.y + H / 2
            const d = self
              ? `M ${a.x + W - 30} ${a.y} C ${a.x + W - 30} ${a.y - 22}, ${a.x + W + 10} ${a.y - 22}, ${a.x + W} ${a.y + 8}`
              : `M ${x1} ${y1} C ${x1 + GAP_X / 2} ${y1}, ${x2 - GAP_X / 2} ${y2}, ${x2} ${y2}`
            // the count sits by the arrow's head, where edges from one node no longer overlap
            const mx = self ? a.x + W - 8 : x2 - 12
            const my = self ? a.y - 14 : y2 - 5
            return (
              <g key={`${e.from}→${e.to}`} data-testid="graph-edge" data-from={e.from} data-to={e.to} data-count={e.count}>
                <path d={d} className="graph-edge" markerEnd="url(#graph-arrow)" />
                <text x={mx} y={my} className="graph-edge-label" textAnchor={self ? 'middle' : 'end'}>
                  ×{fmtInt(e.count)}
                </text>
              </g>
            )
          })}
          {graph.nodes.map((n) => {
            const p = pos.get(n.key)!
            const name = n.name.length > 24 ? `${n.name.slice(0, 23)}…` : n.name
            return (
              <g
                key={n.key}
                transform={`translate(${p.x}, ${p.y})`}
                className={`graph-node graph-${n.role} ${active === n.key ? 'active' : ''} ${n.errors ? 'has-errors' : ''}`}
                data-testid="graph-node"
                data-key={n.key}
                data-name={n.name}
                data-role={n.role}
                data-count={n.count}
                role="button"
                tabIndex={0}
                aria-label={`${ROLE_LABEL[n.role]} ${n.name}: ${n.count} call${n.count === 1 ? '' : 's'}`}
                onClick={() => {
                  setActive(n.key)
                  onSelect(n.spans[0])
                }}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' || e.key === ' ') {
                    e.preventDefault()
                    setActive(n.key)
                    onSelect(n.spans[0])
                  }
                }}
              >
                <title>{`${ROLE_LABEL[n.role]} ${n.name}: ${n.count} calls${n.errors ? `, ${n.errors} failed` : ''}`}</title>
                <rect width={W} height={H} rx={6} />
                <text x={10} y={18} className="graph-role">
                  {ROLE_LABEL[n.role]}
                </text>
                <text x={W - 10} y={18} className="graph-count" textAnchor="end">
                  ×{fmtInt(n.count)}
                  {n.errors ? ` · ${fmtInt(n.errors)} err` : ''}
                </text>
                <text x={10} y={36} className="graph-name">
                  {name}
                </text>
              </g>
            )
          })}
        </svg>
      </div>
      {node && (
        <div className="graph-spans" data-testid="graph-node-spans">
          <div className="muted small">
            {ROLE_LABEL[node.role]} <strong>{node.name}</strong>: {fmtInt(node.count)} span{node.count === 1 ? '' : 's'}
            {node.spans.length > 200 ? ' (first 200 listed)' : ''}
          </div>
          <ul>
            {node.spans.slice(0, 200).map((i, k) => (
              <li key={i}>
                <button type="button" className={`linklike ${i === selected ? 'active' : ''}`} onClick={() => onSelect(i)} data-testid="graph-span">
                  #{k + 1} <span className="mono small">{spans[i].span_id}</span>
                  {spans[i].status === 'error' ? <span className="err small"> error</span> : null}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  )
}
