// The span tree of one trace and the rows of the waterfall: built once (O(n)), then flattened
// again only when a node is folded or unfolded. Iterative, so a 30,000-deep chain cannot overflow.

export interface SpanLike {
  span_id: string
  parent_span_id?: string | null
  start_time: string
  end_time?: string | null
  duration_ms?: number | null
}

export interface SpanTree {
  /** children[i] = indices of the spans whose parent is span i, in start order */
  children: number[][]
  roots: number[]
  /** parent[i] = index of span i's parent, -1 for a root */
  parent: number[]
  startUs: number[]
  endUs: number[]
  depth: number[]
  minUs: number
  maxUs: number
}

/** RFC 3339 with up to 9 fractional digits -> epoch microseconds (Date.parse keeps only ms). */
export function parseTimeUs(text: string | null | undefined): number {
  if (!text) return NaN
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(text)
  if (!m) return Date.parse(text) * 1000
  const base = Date.parse(m[1] + (m[3] ?? 'Z'))
  const frac = (m[2] ?? '').padEnd(6, '0').slice(0, 6)
  return base * 1000 + Number(frac)
}

export function buildTree(spans: readonly SpanLike[]): SpanTree {
  const n = spans.length
  const index = new Map<string, number>()
  for (let i = 0; i < n; i++) if (!index.has(spans[i].span_id)) index.set(spans[i].span_id, i)
  const children: number[][] = Array.from({ length: n }, () => [])
  const roots: number[] = []
  const parent = new Array<number>(n).fill(-1)
  const startUs = new Array<number>(n)
  const endUs = new Array<number>(n)
  let minUs = Infinity
  let maxUs = -Infinity
  for (let i = 0; i < n; i++) {
    const s = spans[i]
    const start = parseTimeUs(s.start_time)
    let end = parseTimeUs(s.end_time)
    if (Number.isNaN(end)) end = s.duration_ms != null ? start + s.duration_ms * 1000 : start
    startUs[i] = start
    endUs[i] = Math.max(start, end)
    if (start < minUs) minUs = start
    if (endUs[i] > maxUs) maxUs = endUs[i]
    const p = s.parent_span_id ? index.get(s.parent_span_id) : undefined
    // a missing parent or a self-reference makes a root; cycles are broken below
    if (p === undefined || p === i) roots.push(i)
    else {
      children[p].push(i)
      parent[i] = p
    }
  }
  const byStart = (x: number, y: number) => startUs[x] - startUs[y] || x - y
  roots.sort(byStart)
  for (const c of children) if (c.length > 1) c.sort(byStart)
  const depth = new Array<number>(n).fill(-1)
  const walk = (root: number) => {
    depth[root] = 0
    const stack = [root]
    while (stack.length) {
      const i = stack.pop()!
      for (const c of children[i]) {
        if (depth[c] === -1) {
          depth[c] = depth[i] + 1
          stack.push(c)
        }
      }
    }
  }
  for (const r of roots) walk(r)
  // Spans in a parent cycle are unreachable from any root: cut the cycle at the first one, make it a root.
  for (let i = 0; i < n; i++) {
    if (depth[i] !== -1) continue
    if (parent[i] >= 0) {
      const list = children[parent[i]]
      list.splice(list.indexOf(i), 1)
      parent[i] = -1
    }
    roots.push(i)
    walk(i)
  }
  return { children, roots, parent, startUs, endUs, depth, minUs: n ? minUs : 0, maxUs: n ? maxUs : 0 }
}

/** The visible rows (span indices in tree order), skipping the descendants of folded spans. */
export function visibleRows(tree: SpanTree, folded: ReadonlySet<number>): number[] {
  const out: number[] = []
  const stack: number[] = []
  for (let r = tree.roots.length - 1; r >= 0; r--) stack.push(tree.roots[r])
  const seen = new Uint8Array(tree.children.length)
  while (stack.length) {
    const i = stack.pop()!
    if (seen[i]) continue
    seen[i] = 1
    out.push(i)
    if (folded.has(i)) continue
    const c = tree.children[i]
    for (let j = c.length - 1; j >= 0; j--) stack.push(c[j])
  }
  return out
}

/** Count of descendants of span i (for "n hidden" labels on folded rows). */
export function descendantCount(tree: SpanTree, i: number): number {
  let count = 0
  const stack = [...tree.children[i]]
  while (stack.length) {
    const j = stack.pop()!
    count++
    for (const c of tree.children[j]) stack.push(c)
  }
  return count
}

/** The chain of ancestors of span i, root first (to unfold them when a span is selected). */
export function ancestors(tree: SpanTree, i: number): number[] {
  const out: number[] = []
  let p = tree.parent[i]
  while (p >= 0 && out.length < tree.parent.length) {
    out.push(p)
    p = tree.parent[p]
  }
  return out.reverse()
}

/** k (1-based) when span i is the k-th of its siblings (in start order) that share its name, 0 when its name is
 * unique among them: folded groups named alike ("invoke_agent researcher") are told apart by it. Asked per rendered
 * row (O(siblings)), so a 30,000-span trace pays only for the rows in view. */
export function siblingOrdinal(tree: SpanTree, spans: { name?: string | null }[], i: number): number {
  const p = tree.parent[i]
  const group = p >= 0 ? tree.children[p] : tree.roots
  if (group.length < 2) return 0
  const name = spans[i].name ?? ''
  let k = 0
  let same = 0
  for (const j of group) {
    if ((spans[j].name ?? '') !== name) continue
    same++
    if (j === i) k = same
  }
  return same > 1 ? k : 0
}
